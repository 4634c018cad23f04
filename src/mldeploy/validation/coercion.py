"""The accepted coercions of raw values, shared by the bulk and the single-row validators.

Both paths import their rules from here, so they accept exactly the same
inputs: numeric text must look like a plain decimal number (no ``1_000``, no
``0x10``), booleans and bytes never count as numbers, and ints too large for a
float are wrong values, not crashes. The rules for empty values (None vs NaN)
are here too, see :mod:`mldeploy.bundle.schema`.
"""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pandas as pd

__all__ = ["BOOL_WORDS", "NUMBER_TEXT", "empty_mask", "to_booleans", "to_numbers"]

_NOT_NUMBERS = (bool, np.bool_, complex, np.complexfloating, bytes, bytearray, memoryview)

NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
"""ASCII digits and spaces only: float() would also read "٤٠" or a no-break space, pandas does not."""
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def to_numbers(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (float64 values, mask of values that are not numbers) for an object or bool array."""
    if raw.dtype.kind in "bc":  # booleans and complex numbers are no numbers here
        return np.full(len(raw), np.nan), np.ones(len(raw), bool)
    series = pd.Series(raw, dtype=object)
    is_text = series.map(type).eq(str).to_numpy()
    is_bool = series.map(lambda v: isinstance(v, _NOT_NUMBERS) or _is_signaling(v)).to_numpy()
    bad_text = is_text & ~series.where(is_text, "").str.fullmatch(NUMBER_TEXT).fillna(False).to_numpy(bool)
    usable = series.where(~(is_bool | bad_text), None)
    number_text = is_text & ~bad_text
    if number_text.any():
        # Read as float() reads it, like the fast checks and scikit-learn. pandas' parser gives some long texts
        # another last bit ("2.1000000000000003") and some zero-padded ones another value ("000000000000000040.5": 40.0).
        usable[number_text] = [float(text) for text in raw[number_text]]
    try:
        numbers = pd.to_numeric(usable, errors="coerce").to_numpy("float64")
    except (OverflowError, TypeError):
        numbers = np.array([_as_float(v) for v in usable], dtype="float64")
    wrong = ~empty_mask(raw) & np.isnan(numbers)
    return numbers, wrong


def empty_mask(raw: np.ndarray) -> np.ndarray:
    """Mark the empty values of an object array: None, NaN, pd.NA, NaT and Decimal("NaN").

    ``Decimal("sNaN")`` (which pandas cannot even test) is no empty value but a wrong one.
    """
    try:
        return pd.isna(raw)
    except ArithmeticError:  # decimal.InvalidOperation from a signaling NaN
        return np.fromiter((_is_empty(v) for v in raw), dtype=bool, count=len(raw))


def _is_empty(value) -> bool:
    if isinstance(value, Decimal):
        return value.is_qnan()
    return bool(pd.isna(value)) if np.ndim(value) == 0 else False


def _is_signaling(value) -> bool:
    return isinstance(value, Decimal) and value.is_snan()


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
