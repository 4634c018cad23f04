"""The accepted coercions of raw values, shared by the bulk and the single-row validators.

Both paths import their rules from here, so they accept exactly the same
inputs: numeric text must look like a plain decimal number (no ``1_000``, no
``0x10``), booleans never count as numbers, and ints too large for a float
are wrong values, not crashes.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["BOOL_WORDS", "NUMBER_TEXT", "to_booleans", "to_numbers"]

NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
"""ASCII digits and spaces only: float() would also read "٤٠" or a no-break space, pandas does not."""
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def to_numbers(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (float64 values, mask of values that are not numbers) for an object or bool array."""
    if raw.dtype.kind in "bc":  # booleans and complex numbers are no numbers here
        return np.full(len(raw), np.nan), np.ones(len(raw), bool)
    series = pd.Series(raw, dtype=object)
    is_text = series.map(type).eq(str).to_numpy()
    is_bool = series.map(lambda v: isinstance(v, (bool, np.bool_, complex, np.complexfloating))).to_numpy()
    bad_text = is_text & ~series.where(is_text, "").str.fullmatch(NUMBER_TEXT).fillna(False).to_numpy(bool)
    usable = series.where(~(is_bool | bad_text), None)
    try:
        numbers = pd.to_numeric(usable, errors="coerce").to_numpy("float64")
    except (OverflowError, TypeError):
        numbers = np.array([_as_float(v) for v in usable], dtype="float64")
    wrong = ~pd.isna(raw) & np.isnan(numbers)
    return numbers, wrong


def to_booleans(raw: np.ndarray) -> np.ndarray:
    """Return an object array of True/False, or None where a value is not a boolean."""
    series = pd.Series(raw, dtype=object)
    is_text = series.map(type).eq(str)
    words = series.where(is_text).str.strip().str.lower().map(BOOL_WORDS)
    is_flag = series.map(lambda v: isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)) and v in (0, 1))
    flags = series.where(is_flag & ~is_text).map(lambda v: bool(v) if v == v and v is not None else None)
    mapped = words.where(is_text, flags)
    return mapped.where(mapped.notna(), None).to_numpy(dtype=object)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return np.nan
