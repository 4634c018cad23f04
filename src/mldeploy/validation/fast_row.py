"""Validate one row given as a dict in plain Python, for microsecond predictions.

This path only says yes (with clean values) or no. On no, the caller runs the
bulk validator, which words the error, so every path reports the same issues.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mldeploy.validation.coercion import BOOL_WORDS, NUMBER_TEXT
from mldeploy.bundle.schema import Field, Schema

__all__ = ["BAD", "clean_row", "clean_value"]


def clean_row(schema: Schema, row: Mapping, missing: str = "as-given") -> dict | None:
    """Return the row as a new dict in field order, its values coerced, or None if anything is off.

    A dict because that is what both consumers take (the compiled encoder reads
    fields by name; the one-row frame builder its values in order): no second copy.

    ``missing`` is ``as-given`` (None and NaN reach the pipeline as given) or
    ``as-trained`` (an empty text value becomes the marker training had).
    """
    if len(row) != len(schema.fields):
        return None
    clean = {}
    for f in schema.fields:
        name = f.name
        if name not in row:
            return None
        value = clean_value(f, row[name], missing)
        if value is BAD:
            return None
        clean[name] = value
    return clean


BAD = object()
"""What :func:`clean_value` returns for a value the field does not accept."""


def clean_value(f: Field, value, missing: str = "as-given"):
    """Return the value coerced as the pipeline expects it, or :data:`BAD`."""
    if value is None or (type(value) is float and value != value):
        if f.type not in ("category", "string"):
            return math.nan if f.nullable else BAD
        if missing == "as-trained" or f.nulls is None:
            return (None if f.text_null == "none" else math.nan) if f.nullable else BAD
        return value if f.accepts_empty("none" if value is None else "nan") else BAD
    if f.type in ("number", "integer"):
        return _clean_number(f, value)
    if f.type == "boolean":
        return _clean_bool(value)
    if type(value) is not str:
        return BAD
    if f.type == "category" and f.unseen == "reject" and value not in f.categories:
        return BAD
    return value


def _clean_number(f: Field, value):
    kind = type(value)
    if kind is str:
        if not NUMBER_TEXT.fullmatch(value):
            return BAD
    elif not (kind is float or kind is int or _is_numpy_number(value)):
        return BAD  # booleans, fractions, dates...: the bulk validator decides and words it
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return BAD
    if not math.isfinite(value) or (f.type == "integer" and value % 1 != 0):
        return BAD
    if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
        return BAD
    return value


def _is_numpy_number(value) -> bool:
    # numpy counts a duration (timedelta64) as an integer; the bulk validator does not
    return isinstance(value, (np.integer, np.floating)) and not isinstance(value, np.timedelta64)


def _clean_bool(value):
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        word = BOOL_WORDS.get(value.strip().lower())
        return BAD if word is None else word
    return BAD
