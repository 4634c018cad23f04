"""Count what drift checks need over data of any size, one Arrow chunk at a time, in bounded memory.

Exact over every row: empty values, numbers per profile bin, categories
(training's, the rest, and those training never saw). Kept as a sample:
a uniform sample of whole rows (bottom-k of random keys, so any chunking
gives the same sample), for the two-sample tests and the prediction's own
drift, which need values rather than counts.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from mldeploy._extras import require
from mldeploy.bundle.profile import bin_counts
from mldeploy.errors import ConfigError

__all__ = ["CategoryTally", "NumericTally", "RowSample"]

_UNSEEN_NAMES_KEPT = 100


class NumericTally:
    """Empty values and counts per profile bin of one numeric column."""

    def __init__(self, edges: np.ndarray | None):
        self.edges = edges
        self.rows = 0
        self.nulls = 0
        self.counts = np.zeros(len(edges) + 1) if edges is not None else None

    def add(self, column, source: str, name: str) -> None:
        """Count one chunk's column (an Arrow array of numbers; NaN counts as empty)."""
        values = _as_floats(column, source, name)
        empty = np.isnan(values)
        self.rows += len(values)
        self.nulls += int(empty.sum())
        if self.counts is not None:
            self.counts += bin_counts(self.edges, values[~empty])


class CategoryTally:
    """Empty values and counts per category of one text or boolean column, bounded for unbounded text."""

    def __init__(self, listed: set[str], seen: set[str] | None):
        self.listed = listed
        """The categories the training profile lists (each gets its own count)."""
        self.seen = seen
        """Every value training had, or None when the profile cannot tell (too many to list)."""
        self.rows = 0
        self.nulls = 0
        self.counts: Counter = Counter()
        self.other = 0
        self.unseen = 0
        self.unseen_names: Counter = Counter()

    def add(self, column, source: str, name: str) -> None:
        """Count one chunk's column (an Arrow array)."""
        pc = require("pyarrow.compute")
        self.rows += len(column)
        self.nulls += column.null_count
        for item in pc.value_counts(_as_text(column)).to_pylist():
            value, count = item["values"], item["counts"]
            if value is None:
                continue
            if value in self.listed:
                self.counts[value] += count
            elif self.seen is None or value in self.seen:
                self.other += count
            else:
                self.unseen += count
                if value in self.unseen_names or len(self.unseen_names) < _UNSEEN_NAMES_KEPT:
                    self.unseen_names[value] += count


class RowSample:
    """A uniform sample of at most ``size`` rows of an Arrow stream, the same for any chunking of it."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self._rng = np.random.default_rng(seed)
        self._table = None
        self._keys = np.empty(0)

    def add(self, table) -> None:
        """Offer one chunk's rows."""
        pa = require("pyarrow")
        keys = self._rng.random(table.num_rows)
        if len(self._keys) >= self.size:  # full: only rows whose key beats the largest kept one can enter
            chosen = np.flatnonzero(keys < self._keys.max())
            table, keys = table.take(pa.array(chosen)), keys[chosen]
        if table.num_rows == 0:
            return
        merged = table if self._table is None else pa.concat_tables([self._table, table], promote_options="permissive")
        merged_keys = np.concatenate([self._keys, keys])
        if len(merged_keys) > self.size:
            kept = np.sort(np.argpartition(merged_keys, self.size)[: self.size])
            merged, merged_keys = merged.take(pa.array(kept)), merged_keys[kept]
        self._table, self._keys = merged.combine_chunks(), merged_keys

    def table(self):
        """Return the sampled rows (an Arrow table), or None before any row came."""
        return self._table


def _as_floats(column, source: str, name: str) -> np.ndarray:
    pa, pc = require("pyarrow"), require("pyarrow.compute")
    if pa.types.is_boolean(column.type) or not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                                                or pa.types.is_decimal(column.type) or pa.types.is_null(column.type)):
        example = next((v for v in column.drop_null().to_pylist()[:1000] if not _is_number(v)), None)
        raise ConfigError(f'{source}: column "{name}" should hold numbers but holds {column.type}'
                          + (f" (e.g. {str(example)[:40]!r})" if example is not None else "")
                          + "; fix the values or the column's type")
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _as_text(column):
    """Return the column as text the way the training profile wrote it (booleans as True/False)."""
    pa, pc = require("pyarrow"), require("pyarrow.compute")
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "True", "False")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)
