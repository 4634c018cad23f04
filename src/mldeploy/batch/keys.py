"""Check an input's key column before anything is written: present, and each key at most once.

Memory stays at 8 bytes per row: keys are hashed to 64 bits, the hashes
sorted, and only hashes seen twice are read again to compare the keys
themselves (a hash collision is not a duplicate).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.batch.columns import key_strings
from mldeploy.batch.input_tables import InputTable
from mldeploy.errors import ConfigError

__all__ = ["KeyCheck", "check_keys"]

_SHOWN = 5
_CHUNK_ROWS = 1 << 18


@dataclass(frozen=True)
class KeyCheck:
    """What the pre-pass learnt: the input's row count and how many keys are missing."""

    rows: int
    missing_keys: int


def check_keys(source: InputTable, key: str) -> KeyCheck:
    """Raise ConfigError if ``key`` is not a column of ``source`` or a key appears twice."""
    if key not in source.columns():
        shown = ", ".join(source.columns()[:20])
        raise ConfigError(f'{source.description} has no key column "{key}" (its columns: {shown}); '
                          "name the column that identifies each row with --key")
    hashes = _Growing(source.count_rows())
    missing = 0
    for table in source.iter_tables([key], _CHUNK_ROWS):
        present = _hashable(table.column(0))
        missing += table.num_rows - len(present)
        hashes.extend(pd.util.hash_array(present, categorize=False))
    rows = hashes.size + missing
    repeated = _repeated_hashes(hashes.values())
    if len(repeated):
        duplicates = _duplicates(source, key, repeated)
        if duplicates:
            shown = "; ".join(f'"{k}" at rows {", ".join(map(str, r))}' for k, r in list(duplicates.items())[:_SHOWN])
            more = f" and {len(duplicates) - _SHOWN} more" if len(duplicates) > _SHOWN else ""
            raise ConfigError(f'{source.description}: key column "{key}" repeats {len(duplicates)} key(s): '
                              f"{shown}{more}; each key must appear once, so deduplicate the input (nothing was written)")
    return KeyCheck(rows=rows, missing_keys=missing)


def _hashable(column) -> np.ndarray:
    """Return the present keys as numpy values that hash alike exactly when their key strings are equal."""
    pa, pc = require("pyarrow"), require("pyarrow.compute")
    column = pc.drop_null(column)
    if pa.types.is_integer(column.type):  # whole numbers hash as int64: no text made for them
        return column.to_numpy().astype("int64", copy=False)
    return key_strings(column).astype(object)


def _repeated_hashes(hashes: np.ndarray) -> np.ndarray:
    hashes.sort()
    return np.unique(hashes[1:][hashes[1:] == hashes[:-1]])


def _duplicates(source: InputTable, key: str, repeated: np.ndarray) -> dict[str, list[int]]:
    rows_of: dict[str, list[int]] = defaultdict(list)
    offset = 0
    for table in source.iter_tables([key], _CHUNK_ROWS):
        column = table.column(0)
        present = np.flatnonzero(~pd.isna(key_strings(column)))
        hashed = pd.util.hash_array(_hashable(column), categorize=False)  # aligned with ``present``
        keys = key_strings(column)
        for position in present[np.isin(hashed, repeated)]:
            rows_of[keys[position]].append(offset + int(position))
        offset += table.num_rows
    return {k: rows for k, rows in rows_of.items() if len(rows) > 1}


class _Growing:
    """A uint64 array filled chunk by chunk: allocated once when the row count is known, else doubled as needed."""

    def __init__(self, capacity: int | None):
        self._data = np.empty(capacity or (1 << 16), dtype=np.uint64)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self._data):
            self._data = np.resize(self._data, max(needed, 2 * len(self._data)))
        self._data[self.size:needed] = values
        self.size = needed

    def values(self) -> np.ndarray:
        return self._data[: self.size]
