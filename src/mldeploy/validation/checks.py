"""Check input rows against a schema in bulk and cast them to the training dtypes.

Every entry point (Python, CLI, HTTP, stream, batch) goes through
:func:`validate`, so a bad row gets the same words everywhere. Checks are
vectorised per column; only object columns pay a Python-level type test.
``missing`` says how empty text values reach the pipeline (see
:mod:`mldeploy.bundle.schema`): ``as-given`` or ``as-trained``.

``max_issues`` bounds what a bad input costs: the checks themselves are whole-column
numpy masks, so every issue is still counted (``SchemaError.total``), but only the
first ``max_issues`` in row order become :class:`Issue` objects (each formats its value).
A million bad rows once built a million issues only for an answer to drop them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from array import array

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


def validate(schema: Schema, data, extra: Extra = "reject", missing: Missing = "as-given",
             max_issues: int | None = None) -> pd.DataFrame:
    """Return a clean DataFrame for a DataFrame, a list of dicts or one dict.

    Raises SchemaError listing every bad field of every bad row. ``extra`` is
    ``reject`` (unknown fields are errors) or ``ignore``; ``missing`` is
    ``as-given`` (None and NaN reach the pipeline as given) or ``as-trained``
    (every empty text value becomes the marker training had). Any other
    ``extra`` or ``missing`` raises ConfigError. With ``max_issues`` the error keeps
    only the first that many issues (in row order) and counts them all in ``total``.
    """
    check_extra(extra)
    check_missing(missing)
    if isinstance(data, pd.DataFrame):
        return validate_frame(schema, data, extra, missing, max_issues)
    if isinstance(data, Mapping):
        return validate_records(schema, [data], extra, missing, max_issues)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return validate_records(schema, data, extra, missing, max_issues)
    raise SchemaError([Issue(None, "(input)", "a DataFrame, a list of objects or one object", type_name(data))])


def validate_records(schema: Schema, rows: Sequence, extra: Extra = "reject", missing: Missing = "as-given",
                     max_issues: int | None = None) -> pd.DataFrame:
    """Validate a list of dicts: per-row missing and unknown keys, then the values in bulk.

    A key left out and the empty value it leaves in the frame are one issue, worded as the
    missing key; a row that is not an object is one issue, whatever its fields would say.
    """
    found = _Found(max_issues)
    names = schema.names
    objects, absent, not_objects = _check_keys(schema, rows, extra, found)
    frame = _records_frame(objects, names, [f.name for f in schema.fields if f.type in ("category", "string")])
    skip = _mask(np.asarray(not_objects, np.int64), len(objects)) if not_objects else None
    clean = _check_columns(schema, frame, missing, found, absent, skip)
    if found.total:
        raise found.error()
    return pd.DataFrame(clean, index=pd.RangeIndex(len(frame)), copy=False)


_KEY_SETS_KEPT = 1024  # distinct key sets remembered: a request repeats a few, an attacker may send a new one each row


def _check_keys(schema: Schema, rows: Sequence, extra: str, found: _Found):
    """Find the rows that are no objects, leave out a key or hold an unknown one.

    Return the rows as objects ({} for each that is not one), the rows that leave out each required
    field (a mask per field), and the positions of the rows that are not objects. Rows are grouped
    by their keys, so each set of keys is compared with the schema once, not once per row.
    """
    expected_keys = set(schema.names)
    required = {f.name for f in schema.fields if not f.nullable}
    known_fields = _known_fields(schema)
    described: dict[tuple, tuple[tuple, tuple]] = {}  # keys of a row -> (required fields left out, unknown keys)
    left_out: dict[tuple, array] = {}  # required fields left out -> the rows that leave out exactly those
    not_objects: list[int] = []
    objects = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            not_objects.append(index)
            found.add_one(lambda index=index, row=row: Issue(index, "(row)", "an object of fields", type_name(row)))
            row = {}
        elif row.keys() != expected_keys:
            keys = tuple(row)
            description = described.get(keys)
            if description is None:
                if len(described) >= _KEY_SETS_KEPT:
                    described.clear()
                description = described[keys] = (tuple(sorted(required - row.keys())),
                                                 tuple(row.keys() - expected_keys) if extra == "reject" else ())
            missing, unknown = description
            if missing:
                left_out.setdefault(missing, array("q")).append(index)
            for key in unknown:
                found.add_one(lambda index=index, key=key, row=row: Issue(index, shorten(key), known_fields, show_value(row[key])))
        objects.append(row)
    absent: dict[str, np.ndarray] = {}
    for missing, positions in left_out.items():
        positions = np.frombuffer(positions, np.int64)
        for name in missing:
            absent.setdefault(name, np.zeros(len(objects), bool))[positions] = True
    return objects, absent, not_objects


def validate_frame(schema: Schema, frame: pd.DataFrame, extra: Extra = "reject", missing: Missing = "as-given",
                   max_issues: int | None = None) -> pd.DataFrame:
    """Validate a DataFrame column by column; return it cast to the training dtypes, in order."""
    if isinstance(frame.columns, pd.MultiIndex):  # scikit-learn reads no tuple names: one level, on every path
        raise SchemaError([Issue(None, "(columns)", "one level of column names", f"{frame.columns.nlevels} levels")],
                          hint="flatten the columns first, e.g. frame.columns = frame.columns.get_level_values(-1)")
    found = _Found(max_issues)
    found.add_all([f for f in schema.fields if f.name not in frame.columns],
                  lambda f: Issue(None, f.name, f"a column ({f.expected()})", "no such column"))
    repeated = [c for c in frame.columns[frame.columns.duplicated()].unique() if c in schema.by_name]
    found.add_all(repeated, lambda c: Issue(None, str(c), _ONE_COLUMN, f"{(frame.columns == c).sum()} columns"))
    if extra == "reject":
        known = set(schema.names)
        found.add_all([c for c in frame.columns if c not in known],
                      lambda c: Issue(None, shorten(c), _known_fields(schema), "an extra column"))
    clean = _check_columns(schema, frame, missing, found, {}, None, skip_columns=set(repeated))
    if found.total:
        raise found.error()
    return pd.DataFrame(clean, index=pd.RangeIndex(len(frame)), copy=False)


class _Found:
    """The issues found so far: every one counted, at most ``limit`` of each source built (None: no limit).

    Each source (a column, the keys of the rows, the columns of a frame) yields its issues in row
    order, so its first ``limit`` hold every one of its issues among the first ``limit`` overall.
    """

    def __init__(self, limit: int | None):
        self.limit = limit
        self.issues: list[Issue] = []
        self.total = 0
        self._built_one_by_one = 0  # issues built by add_one: a source of its own

    def add_one(self, build) -> None:
        """Count one issue; build it (``build()``) only while under the limit."""
        self.total += 1
        if self.limit is None or self._built_one_by_one < self.limit:
            self._built_one_by_one += 1
            self.issues.append(build())

    def add_all(self, items: list, build) -> None:
        """Count one issue per item; build (``build(item)``) the first ``limit``."""
        self.total += len(items)
        self.issues.extend(build(item) for item in (items if self.limit is None else items[:self.limit]))

    def add_column(self, issues: list[Issue], count: int) -> None:
        """Add a column's issues (already cut at the limit) and the count of all of them."""
        self.issues.extend(issues)
        self.total += count

    def error(self) -> SchemaError:
        """The SchemaError of what was found: the first ``limit`` issues in row order, and the count of all."""
        issues = sorted(self.issues, key=_issue_order)
        if self.limit is not None:
            issues = issues[:self.limit]
        return SchemaError(issues, hint=_hint(issues), total=self.total)


def _mask(rows: np.ndarray, length: int) -> np.ndarray:
    mask = np.zeros(length, bool)
    mask[rows] = True
    return mask


def _check_columns(schema: Schema, frame: pd.DataFrame, missing: str, found: _Found, absent: dict[str, np.ndarray],
                   skip: np.ndarray | None, skip_columns: set = frozenset()) -> dict[str, np.ndarray]:
    """Check each schema column of ``frame`` into ``found``; return the clean columns.

    ``absent``: per field, the rows whose key was left out (worded so, first); ``skip``: rows already
    refused as a whole, whose fields say nothing more.
    """
    clean = {}
    for f in schema.fields:
        if f.name in frame.columns and f.name not in skip_columns:
            clean[f.name], raw, problems = _check_column(f, frame[f.name], missing)
            if f.name in absent:
                problems = [(absent[f.name], f.expected(), "nothing (field missing)"), *problems]
            found.add_column(*_issues(f, raw, problems, found.limit, skip))
    return clean


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


Problems = list[tuple]
"""(rows mask, expected) or (rows mask, expected, got), in the order they word a row with several."""


def _check_column(f: Field, column: pd.Series, missing: str) -> tuple[np.ndarray, np.ndarray, Problems]:
    """Return the column's clean values, its raw values and its problems (each a mask over the rows)."""
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
    return _cast_numbers(f, numbers, missing, problems), raw, problems


def _cast_numbers(f: Field, numbers: np.ndarray, missing: np.ndarray, problems: Problems) -> np.ndarray:
    # int64 whatever the training width: a uint8 column must not wrap 300 to 44.
    if (f.dtype.startswith(("int", "uint")) and not any(np.any(mask) for mask, *_ in problems) and not missing.any()
            and np.all(np.abs(numbers) < 2**63)):
        return numbers.astype("int64")
    return numbers


def _check_booleans(f: Field, column: pd.Series):
    raw = column.to_numpy()
    if raw.dtype.kind == "b":
        return raw, raw, []
    missing = empty_mask(raw) if raw.dtype == object else column.isna().to_numpy()
    mapped = to_booleans(raw)
    wrong = ~missing & pd.isna(mapped)
    expected = f.expected()
    problems = [(wrong, expected), (missing & (not f.nullable), f"{expected} (this field cannot be empty)")]
    if missing.any():
        values = np.where(missing | wrong, np.nan, mapped).astype("float64")
    else:
        values = np.where(wrong, False, mapped).astype(bool)
    return values, raw, problems


def _check_text(f: Field, column: pd.Series, missing_rule: str):
    raw = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(raw, skipna=False) == "string":  # all text, none empty: one C scan says so
        missing = np.zeros(len(raw), dtype=bool)                    # (a quarter of pandas' isna on the column)
        is_text = ~missing
    else:
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
    return values, raw, problems


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


def _issues(f: Field, raw: np.ndarray, problems: Problems, limit: int | None,
            skip: np.ndarray | None = None) -> tuple[list[Issue], int]:
    """Return the column's issues, one per bad row (its first problem), the first ``limit`` of them, and their count.

    ``skip``: rows to say nothing of. Counting is a numpy sum; only the issues kept are built.
    """
    rows_found, count = [], 0
    reported = np.zeros(len(raw), bool) if skip is None else skip.copy()
    for mask, expected, *got in problems:
        mask = np.asarray(mask, bool) & ~reported
        if mask.any():
            reported |= mask
            rows = np.flatnonzero(mask)
            count += len(rows)
            rows_found += [(int(i), expected, got[0] if got else None) for i in (rows if limit is None else rows[:limit])]
    if limit is not None and len(rows_found) > limit:
        rows_found = sorted(rows_found, key=lambda found: found[0])[:limit]
    return [Issue(i, f.name, expected, show_value(raw[i]) if got is None else got) for i, expected, got in rows_found], count


def _hint(issues: list[Issue]) -> str:
    if any(issue.expected == _ONE_COLUMN for issue in issues):
        return "give each field one column: drop or rename the repeated ones"
    if any(issue.expected.startswith(_KNOWN) for issue in issues):
        return 'fix the values; drop unknown fields or pass extra="ignore"'
    return "fix the values or retrain with data like them"


def _known_fields(schema: Schema) -> str:
    return _KNOWN + " (" + ", ".join(schema.names) + ")"


def _issue_order(issue: Issue):
    return (-1 if issue.row is None else issue.row, issue.field)


def _is_instance(values: np.ndarray, types) -> np.ndarray:
    return np.fromiter((isinstance(v, types) for v in values), dtype=bool, count=len(values))
