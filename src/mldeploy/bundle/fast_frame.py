"""Validate a DataFrame column by column with numpy and plain Python, for fast batch predictions.

Like ``fast_row``, this path only says yes (with clean columns) or no; on no
the caller runs the bulk validator, which words the error. Typed number
columns are checked with a few numpy calls; other columns go value by value
through the same rules as one row, so all paths accept exactly the same values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mldeploy.bundle.fast_row import BAD, clean_value
from mldeploy.bundle.schema import Field, Schema

__all__ = ["FrameCleaner"]


class FrameCleaner:
    """Turn a DataFrame into clean columns (numpy arrays keyed by field name), or say no."""

    def __init__(self, schema: Schema) -> None:
        self._fields = schema.fields
        self._names = set(schema.names)

    def clean(self, frame: pd.DataFrame, extra: str = "reject") -> dict[str, np.ndarray] | None:
        """Return {field: values} with numbers as float64 (NaN when empty) and texts as objects, or None.

        ``extra="ignore"`` skips columns the schema does not know; otherwise they are a no.
        """
        columns = frame.columns
        if not columns.is_unique or (extra == "reject" and len(columns) != len(self._fields)):
            return None
        clean = {}
        for f in self._fields:
            if f.name not in columns:
                return None
            values = _clean_column(f, frame[f.name].to_numpy())
            if values is None:
                return None
            clean[f.name] = values
        return clean


def _clean_column(f: Field, raw: np.ndarray) -> np.ndarray | None:
    if f.type in ("number", "integer") and raw.dtype.kind in "iuf":
        return _clean_typed_numbers(f, raw)
    if f.type == "boolean" and raw.dtype.kind == "b":
        return raw.astype(np.float64)
    if raw.dtype.kind != "O" and f.type in ("category", "string"):
        return None  # numbers or dates in a text field: the bulk path words it
    values = [clean_value(f, value) for value in raw.tolist()]
    if any(value is BAD for value in values):
        return None
    if f.type in ("category", "string"):
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return np.array(values, dtype=np.float64)


def _clean_typed_numbers(f: Field, raw: np.ndarray) -> np.ndarray | None:
    numbers = raw.astype(np.float64, copy=False)
    if not numbers.size:
        return numbers
    low, high = numbers.min(), numbers.max()  # NaN when any value is empty
    if math.isnan(low):
        missing = np.isnan(numbers)
        if not f.nullable:
            return None
        present = numbers[~missing]
        if not present.size:
            return numbers
        low, high = present.min(), present.max()
    else:
        present = numbers
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if f.type == "integer" and raw.dtype.kind == "f" and (present % 1 != 0).any():
        return None
    if (f.minimum is not None and low < f.minimum) or (f.maximum is not None and high > f.maximum):
        return None
    return numbers
