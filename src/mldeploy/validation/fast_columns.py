"""Validate a batch (a DataFrame or a list of dicts) column by column, for fast batch predictions.

Like ``fast_row``, this path only says yes (with clean columns) or no; on no
the caller runs the bulk validator, which words the error. Number columns of
plain numbers are checked with a few numpy calls, text columns once per
distinct value, anything else value by value through the same rules as one
row, so all paths accept exactly the same values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mldeploy.validation.fast_row import BAD, clean_value
from mldeploy.bundle.schema import Field, Schema

__all__ = ["ColumnCleaner"]


class ColumnCleaner:
    """Turn a batch into clean columns (numpy arrays keyed by field name), or say no."""

    def __init__(self, schema: Schema) -> None:
        self._fields = schema.fields
        self._names = set(schema.names)

    def clean_frame(self, frame: pd.DataFrame, extra: str = "reject", missing: str = "as-given") -> dict[str, np.ndarray] | None:
        """Return {field: values} with numbers as float64 (NaN when empty) and texts as objects, or None.

        ``extra="ignore"`` skips columns the schema does not know; otherwise they are a no.
        ``missing`` says how empty texts reach the pipeline (see :func:`~mldeploy.validation.fast_row.make_row_cleaner`).
        """
        columns = frame.columns
        if isinstance(columns, pd.MultiIndex) or not columns.is_unique:
            return None
        if extra == "reject" and len(columns) != len(self._fields):
            return None
        clean = {}
        for f in self._fields:
            if f.name not in columns:
                return None
            values = _clean_column(f, frame[f.name].to_numpy(), missing)
            if values is None:
                return None
            clean[f.name] = values
        return clean

    def clean_records(self, rows: list, missing: str = "as-given") -> dict[str, np.ndarray] | None:
        """Like :meth:`clean_frame` for a list of dicts that each have exactly the schema's fields."""
        names = self._names
        if not all(isinstance(row, dict) and row.keys() == names for row in rows):
            return None
        clean = {}
        for f in self._fields:
            values = _clean_list(f, [row[f.name] for row in rows], missing)
            if values is None:
                return None
            clean[f.name] = values
        return clean


_PLAIN_NUMBERS = {float, int, type(None)}


def _clean_list(f: Field, values: list, missing: str) -> np.ndarray | None:
    if f.type in ("number", "integer") and set(map(type, values)) <= _PLAIN_NUMBERS:
        try:
            numbers = np.array(values, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an int no float holds
            return None
        return _clean_typed_numbers(f, numbers)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return _clean_column(f, array, missing)


def _clean_column(f: Field, raw: np.ndarray, missing: str) -> np.ndarray | None:
    if f.type in ("number", "integer") and raw.dtype.kind in "iuf":
        return _clean_typed_numbers(f, raw)
    if f.type == "boolean" and raw.dtype.kind == "b":
        return raw.astype(np.float64)
    if raw.dtype.kind != "O":
        return None  # dates, durations, complex numbers...: the bulk path words it
    if f.type in ("category", "string"):
        return _clean_texts(f, raw, missing)
    values = [clean_value(f, value) for value in raw.tolist()]
    if any(value is BAD for value in values):
        return None
    return np.array(values, dtype=np.float64)


def _clean_texts(f: Field, raw: np.ndarray, missing: str) -> np.ndarray | None:
    # Each distinct value is checked once: a batch repeats a few categories many times.
    try:
        distinct = set(raw.tolist())
    except TypeError:  # an unhashable value is no text
        return None
    empty = BAD
    for value in distinct:
        clean = clean_value(f, value, missing)
        if clean is BAD:
            return None
        if clean is not value:  # an empty value, to be given as training had it (as-trained)
            empty = clean
    if empty is BAD:
        return raw
    array = np.empty(len(raw), dtype=object)
    array[:] = [empty if v is None or (type(v) is float and v != v) else v for v in raw.tolist()]
    return array


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
