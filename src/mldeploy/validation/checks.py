"""Check input rows against a schema in bulk and cast them to the training dtypes.

Every entry point (Python, CLI, HTTP, stream, batch) goes through
:func:`validate`, so a bad row gets the same words everywhere. Checks are
vectorised per column; only object columns pay a Python-level type test.
``missing`` says how empty text values reach the pipeline (see
:mod:`mldeploy.bundle.schema`): ``as-given`` or ``as-trained``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from mldeploy.validation.coercion import empty_mask, to_booleans, to_numbers
from mldeploy.bundle.options import Extra, Missing, check_extra, check_missing
from mldeploy.bundle.schema import Field, Schema
from mldeploy._shown import show_value, type_name
from mldeploy.errors import Issue, SchemaError, shorten

__all__ = ["validate", "validate_frame", "validate_records"]

_KNOWN = "one of the known fields"
_ONE_COLUMN = "one column of that name"


def validate(schema: Schema, data, extra: Extra = "reject", missing: Missing = "as-given") -> pd.DataFrame:
    """Return a clean DataFrame for a DataFrame, a list of dicts or one dict.

    Raises SchemaError listing every bad field of every bad row. ``extra`` is
    ``reject`` (unknown fields are errors) or ``ignore``; ``missing`` is
    ``as-given`` (None and NaN reach the pipeline as given) or ``as-trained``
    (every empty text value becomes the marker training had). Any other
    ``extra`` or ``missing`` raises ConfigError.
    """
    check_extra(extra)
    check_missing(missing)
    if isinstance(data, pd.DataFrame):
        return validate_frame(schema, data, extra, missing)
    if isinstance(data, Mapping):
        return validate_records(schema, [data], extra, missing)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return validate_records(schema, data, extra, missing)
    raise SchemaError([Issue(None, "(input)", "a DataFrame, a list of objects or one object", type_name(data))])


def validate_records(schema: Schema, rows: Sequence, extra: Extra = "reject", missing: Missing = "as-given") -> pd.DataFrame:
    """Validate a list of dicts: per-row missing and unknown keys, then the values in bulk."""
    issues = []
    names = schema.names
    expected_keys = set(names)
    objects = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            issues.append(Issue(index, "(row)", "an object of fields", type_name(row)))
            row = {}
        elif row.keys() != expected_keys:
            issues.extend(_key_issues(schema, index, row, extra))
        objects.append(row)
    frame = _records_frame(objects, names, [f.name for f in schema.fields if f.type in ("category", "string")])
    try:
        clean = validate_frame(schema, frame, "ignore", missing)
    except SchemaError as error:
        not_objects = {issue.row for issue in issues if issue.field == "(row)"}
        issues.extend(issue for issue in error.issues if issue.row not in not_objects)
    if issues:
        raise SchemaError(_first_per_field(issues), hint=_hint(issues))
    return clean


def validate_frame(schema: Schema, frame: pd.DataFrame, extra: Extra = "reject", missing: Missing = "as-given") -> pd.DataFrame:
    """Validate a DataFrame column by column; return it cast to the training dtypes, in order."""
    if isinstance(frame.columns, pd.MultiIndex):  # scikit-learn reads no tuple names: one level, on every path
        raise SchemaError([Issue(None, "(columns)", "one level of column names", f"{frame.columns.nlevels} levels")],
                          hint="flatten the columns first, e.g. frame.columns = frame.columns.get_level_values(-1)")
    issues = [Issue(None, f.name, f"a column ({f.expected()})", "no such column") for f in schema.fields if f.name not in frame.columns]
    repeated = [c for c in frame.columns[frame.columns.duplicated()].unique() if c in schema.by_name]
    issues += [Issue(None, str(c), _ONE_COLUMN, f"{(frame.columns == c).sum()} columns") for c in repeated]
    if extra == "reject":
        known = set(schema.names)
        issues += [Issue(None, shorten(c), _known_fields(schema), "an extra column") for c in frame.columns if c not in known]
    clean = {}
    for f in schema.fields:
        if f.name in frame.columns and f.name not in repeated:
            clean[f.name], column_issues = _check_column(f, frame[f.name], missing)
            issues.extend(column_issues)
    if issues:
        raise SchemaError(sorted(issues, key=_issue_order), hint=_hint(issues))
    return pd.DataFrame(clean, index=pd.RangeIndex(len(frame)), copy=False)


def _records_frame(rows: list, names: list[str], texts: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=names)
    try:
        frame = pd.DataFrame.from_records(rows, columns=names)
    except OverflowError:  # an int too large for any dtype: keep raw objects, the checks name it
        return pd.DataFrame({n: _objects([row.get(n, pd.NA) for row in rows]) for n in names})
    for name in texts:  # pandas would read [NaN, None] as two NaN: keep each value as given
        frame[name] = _objects([row.get(name, pd.NA) for row in rows])  # a key left out: the marker training had
    return frame


def _objects(values: list) -> pd.Series:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object, copy=False)  # as given: no dtype guessing


def _check_column(f: Field, column: pd.Series, missing: str) -> tuple[np.ndarray, list[Issue]]:
    if f.type in ("number", "integer"):
        return _check_numbers(f, column)
    if f.type == "boolean":
        return _check_booleans(f, column)
    return _check_text(f, column, missing)


def _check_numbers(f: Field, column: pd.Series):
    raw = column.to_numpy()
    if raw.dtype.kind in "iuf":  # plain numpy numbers: no pandas call needed
        numbers, wrong = raw.astype("float64"), np.zeros(len(raw), bool)
        missing = np.isnan(numbers) if raw.dtype.kind == "f" else wrong
    else:
        missing = empty_mask(raw) if raw.dtype == object else column.isna().to_numpy()
        numbers, wrong = to_numbers(raw)
    expected = f.expected()
    problems = [
        (wrong, expected),
        (~missing & np.isinf(numbers), f"a finite number ({expected})"),
        (missing & (not f.nullable), f"{expected} (this field cannot be empty)"),
    ]
    valid = ~missing & ~wrong & np.isfinite(numbers)
    if f.type == "integer":
        problems.append((valid & (np.where(valid, numbers, 0.0) % 1 != 0), expected))
    if f.minimum is not None:
        problems.append((valid & (numbers < f.minimum), expected))
    if f.maximum is not None:
        problems.append((valid & (numbers > f.maximum), expected))
    issues = _issues(f, raw, problems)
    return _cast_numbers(f, numbers, missing, issues), issues


def _cast_numbers(f: Field, numbers: np.ndarray, missing: np.ndarray, issues: list) -> np.ndarray:
    # int64 whatever the training width: a uint8 column must not wrap 300 to 44.
    if f.dtype.startswith(("int", "uint")) and not issues and not missing.any() and np.all(np.abs(numbers) < 2**63):
        return numbers.astype("int64")
    return numbers


def _check_booleans(f: Field, column: pd.Series):
    raw = column.to_numpy()
    if raw.dtype.kind == "b":
        return raw, []
    missing = empty_mask(raw) if raw.dtype == object else column.isna().to_numpy()
    mapped = to_booleans(raw)
    wrong = ~missing & pd.isna(mapped)
    expected = f.expected()
    problems = [(wrong, expected), (missing & (not f.nullable), f"{expected} (this field cannot be empty)")]
    if missing.any():
        values = np.where(missing | wrong, np.nan, mapped).astype("float64")
    else:
        values = np.where(wrong, False, mapped).astype(bool)
    return values, _issues(f, raw, problems)


def _check_text(f: Field, column: pd.Series, missing_rule: str):
    raw = column.to_numpy(dtype=object)
    missing = empty_mask(raw)
    if missing.any():  # Decimal("NaN") is an empty number, but no Decimal is text
        missing[missing] = [not isinstance(v, Decimal) for v in raw[missing]]
    # infer_dtype scans in C; the Python-level check runs only for mixed columns.
    is_text = ~missing if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty") else _is_instance(raw, str)
    expected = f.expected()
    problems = [(~missing & ~is_text, f"text ({expected})")]
    values = raw
    if missing.any():
        values, refused = _empty_texts(f, raw, missing, missing_rule)
        problems += refused
    if f.type == "category" and f.unseen == "reject" and f.categories is not None:
        problems.append((is_text & ~pd.Series(raw, dtype=object).isin(f.categories).to_numpy(), expected))
    return values, _issues(f, raw, problems)


def _empty_texts(f: Field, raw: np.ndarray, missing: np.ndarray, rule: str) -> tuple[np.ndarray, list]:
    """Give each empty text value the marker the rule says; return (values, refused empties with their wording)."""
    markers = np.full(len(raw), "", dtype=object)  # "" for values that are not empty
    markers[missing] = [_marker(v) for v in raw[missing]]  # none, nan, or other (pd.NA, NaT)
    if rule == "as-trained" or f.nulls is None:
        markers[missing] = f.text_null
    else:
        markers[markers == "other"] = f.text_null
    values = raw.copy()
    values[markers == "none"] = None
    values[markers == "nan"] = np.nan
    refused = [(markers == marker, _empty_expected(f, marker)) for marker in ("none", "nan") if not f.accepts_empty(marker)]
    return values, refused


def _empty_expected(f: Field, marker: str) -> str:
    other = "nan" if marker == "none" else "none"
    if not f.accepts_empty(other):
        return f"{f.expected()} (this field cannot be empty)"
    words = {"none": "None", "nan": "NaN"}
    return f"{f.expected()} (empty only as {words[other]}: the pipeline refuses {words[marker]} here)"


def _marker(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (float, np.floating)):
        return "nan"
    return "other"


def _issues(f: Field, raw: np.ndarray, problems) -> list[Issue]:
    issues = []
    reported = np.zeros(len(raw), bool)
    for mask, expected in problems:
        mask = np.asarray(mask, bool) & ~reported
        if mask.any():
            reported |= mask
            issues.extend(Issue(int(i), f.name, expected, show_value(raw[i])) for i in np.flatnonzero(mask))
    return issues


def _key_issues(schema: Schema, index: int, row: Mapping, extra: str) -> list[Issue]:
    # A missing key of a field that may be empty counts as empty: JSON clients leave out nulls.
    issues = [Issue(index, f.name, f.expected(), "nothing (field missing)") for f in schema.fields if f.name not in row and not f.nullable]
    if extra == "reject":
        issues += [Issue(index, shorten(k), _known_fields(schema), show_value(row[k])) for k in row if k not in schema.by_name]
    return issues


def _hint(issues: list[Issue]) -> str:
    if any(issue.expected == _ONE_COLUMN for issue in issues):
        return "give each field one column: drop or rename the repeated ones"
    if any(issue.expected.startswith(_KNOWN) for issue in issues):
        return 'fix the values; drop unknown fields or pass extra="ignore"'
    return "fix the values or retrain with data like them"


def _known_fields(schema: Schema) -> str:
    return _KNOWN + " (" + ", ".join(schema.names) + ")"


def _first_per_field(issues: list[Issue]) -> list[Issue]:
    # A missing key also shows up as an empty value; keep only the first word on each field.
    seen, kept = set(), []
    for issue in sorted(issues, key=_issue_order):
        if (issue.row, issue.field) not in seen:
            seen.add((issue.row, issue.field))
            kept.append(issue)
    return kept


def _issue_order(issue: Issue):
    return (-1 if issue.row is None else issue.row, issue.field)


def _is_instance(values: np.ndarray, types) -> np.ndarray:
    return np.fromiter((isinstance(v, types) for v in values), dtype=bool, count=len(values))
