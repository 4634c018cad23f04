"""Validate one row given as a dict in plain Python, for microsecond predictions.

This path only says yes (with clean values) or no. On no, the caller runs the
bulk validator, which words the error, so every path reports the same issues.

:func:`clean_value` is the rule for one value. Walking the schema for every
row, asking each field its type and bounds, cost 2.4 µs for the salary model's
eleven fields, the largest part of a one-row prediction; so
:func:`make_row_cleaner` writes a schema's row check out once, as
``dataclasses`` writes an ``__init__``: one test per field, its bounds and
categories bound as constants, for values that arrive as they should (a float
in range, a known category, a bool): 0.8 µs. Any other value (None, NaN, text
for a number, an int for a bool, a numpy scalar...) goes to clean_value itself,
and the quick tests take only what clean_value would take unchanged (or turn
into a float, for an int), so a row gets clean_value's answer field by field.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping

import numpy as np

from mldeploy.validation.coercion import BOOL_WORDS, NUMBER_TEXT
from mldeploy.bundle.schema import Field, Schema

__all__ = ["BAD", "clean_value", "make_row_cleaner"]


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


_LARGEST = sys.float_info.max  # bounds of a field without them: an infinity is never in range


def make_row_cleaner(schema: Schema, missing: str = "as-given") -> Callable[[Mapping], dict | None]:
    """Return ``clean(row)``: the row as a new dict in field order, its values coerced, or None if anything is off.

    A dict because that is what both consumers take (the compiled encoder reads
    fields by name; the one-row frame builder its values in order): no second copy.
    A row is off when it lacks a field, has one more, or clean_value refuses a value.

    ``missing`` is ``as-given`` (None and NaN reach the pipeline as given) or
    ``as-trained`` (an empty text value becomes the marker training had).
    """
    # Only names made here reach the source; the schema's own (field names, bounds, categories) are the
    # values of the function's globals, so no text from a bundle is ever compiled.
    names = {"BAD": BAD, "clean_value": clean_value, "missing": missing}
    # A mapping other than a dict is read as a dict: a defaultdict would fill a missing field in, not raise KeyError.
    lines = ["def clean(row):", f"    if len(row) != {len(schema.fields)}:", "        return None",
             "    if type(row) is not dict:", "        row = dict(row)", "    try:"]
    lines += [f"        v{i} = row[n{i}]" for i in range(len(schema.fields))] or ["        pass"]
    lines += ["    except KeyError:", "        return None"]
    for i, f in enumerate(schema.fields):
        names[f"n{i}"], names[f"f{i}"] = f.name, f
        lines += _field_lines(f, i, names)
    lines += [f"    return {{{', '.join(f'n{i}: v{i}' for i in range(len(schema.fields)))}}}"]
    exec(compile("\n".join(lines), f"<row cleaner of {len(schema.fields)} fields>", "exec"), names)  # noqa: S102
    return names["clean"]


def _field_lines(f: Field, i: int, names: dict) -> list[str]:
    """The lines that clean ``v{i}``: a value that passes the quick test is kept (an int becomes a float)."""
    slow = [f"v{i} = clean_value(f{i}, v{i}, missing)", f"if v{i} is BAD:", "    return None"]
    quick = _quick_test(f, i, names)
    if quick is None:
        return [f"    {line}" for line in slow]
    lines = [f"    if not ({quick}):", *(f"        {line}" for line in slow)]
    if f.type in ("number", "integer"):
        lines += [f"    elif type(v{i}) is int:", f"        v{i} = float(v{i})"]
    return lines


def _quick_test(f: Field, i: int, names: dict) -> str | None:
    """The expression that is true of a value clean_value takes as it is; None: every value goes to clean_value."""
    value = f"v{i}"
    if f.type in ("number", "integer"):
        names[f"low{i}"] = _float_within(f.minimum, rising=True)
        names[f"high{i}"] = _float_within(f.maximum, rising=False)
        in_range = f"low{i} <= {value} <= high{i}"  # False for NaN, and for an infinity
        whole = f" and {value}.is_integer()" if f.type == "integer" else ""
        return f"(type({value}) is float and {in_range}{whole}) or (type({value}) is int and {in_range})"
    if f.type == "boolean":
        return f"type({value}) is bool"
    if f.type == "category" and f.unseen == "reject":
        names[f"categories{i}"] = frozenset(f.categories or ())
        return f"type({value}) is str and {value} in categories{i}"
    if f.type in ("category", "string"):
        return f"type({value}) is str"
    return None


def _float_within(bound, rising: bool) -> float:
    """The float nearest ``bound`` on its inner side (``rising``: a lower bound), so that a value within it is
    within ``bound`` once clean_value has made it a float: an int bound may lie between two floats."""
    if bound is None:
        return -_LARGEST if rising else _LARGEST
    if abs(bound) > _LARGEST:  # past every finite float: no bound for a finite value, or no finite value at all
        outward = (bound < 0) if rising else (bound > 0)
        return (-_LARGEST if rising else _LARGEST) if outward else (math.inf if rising else -math.inf)
    inner = float(bound)
    if (inner < bound) if rising else (inner > bound):
        inner = math.nextafter(inner, math.inf if rising else -math.inf)
    return inner
