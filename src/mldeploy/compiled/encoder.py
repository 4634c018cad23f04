"""Turn input rows (dicts or a DataFrame) into the matrix of base values the compiled model reads.

The encoder is data: a list of bases (see ``features``), saved as JSON. Non-finite
numbers, values a transform turns NaN and, where the pipeline would refuse them,
unseen categories raise SchemaError (a ValueError, as scikit-learn raises) naming
the row and field; the schema layer normally rejects them first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from mldeploy._shown import show_value
from mldeploy.compiled.features import (
    CodeBase, MissingBase, NumBase, OneHotBase, OrdinalBase, base_from_json, base_to_json,
)
from mldeploy.errors import Issue, SchemaError

__all__ = ["COLUMNWISE_ROWS", "RowEncoder"]

COLUMNWISE_ROWS = 512
"""From this many dicts on, rows are encoded column by column through a DataFrame."""
_NUMBER, _MISSING_NUMBER, _MISSING_TEXT, _CODE, _ORDINAL, _ONEHOT = range(6)


class RowEncoder:
    """Encode rows into float64 base values, one column per base."""

    def __init__(self, bases: list, number_columns: list[str] = (), guards: dict | None = None) -> None:
        self.bases = list(bases)
        self.number_columns = list(number_columns)
        """Every number column: all must be finite, used or not, as scikit-learn checks them all."""
        self.guards = {int(index): tuple(values) for index, values in (guards or {}).items()}
        """{base index: (lowest, highest, nan_allowed)}: values outside are rows scikit-learn refuses."""
        self._plan = [self._step(base) for base in self.bases]
        self._checks = [(i, self.bases[i].column, *self.guards[i]) for i in sorted(self.guards)]
        self._onehot = _onehot_groups(self._plan)
        self._row_steps = _row_steps(self._plan, self._onehot)
        self._numeric = list(dict.fromkeys(
            [*self.number_columns, *(plan[1] for plan in self._plan if plan[0] in (_NUMBER, _MISSING_NUMBER))]))
        """Every column read as a number: each is checked finite once per batch."""
        read = {plan[1] for plan in self._plan if plan[0] in (_NUMBER, _MISSING_NUMBER)}
        self._unread_numbers = [column for column in self.number_columns if column not in read]
        # A batch's number bases and guards are each done in a few numpy calls over all of them at once:
        # per column, a small batch (an API micro-batch) spent more on numpy's calls than on its values.
        numbers = [(i, column, fill, low) for i, (kind, column, fill, low) in enumerate(self._plan) if kind == _NUMBER]
        self._number_bases = np.array([i for i, _, _, _ in numbers], dtype=np.intp)
        self._number_columns = [column for _, column, _, _ in numbers]
        self._number_fills = np.array([fill for _, _, fill, _ in numbers], dtype=np.float64)
        self._number_lows = np.array([low for _, _, _, low in numbers], dtype=np.float64)
        self._per_column = [(i, *plan) for i, plan in enumerate(self._plan) if plan[0] not in (_ONEHOT, _NUMBER)]
        """The bases a batch still encodes one by one (texts, missing-value flags)."""
        self._guarded = np.array([check[0] for check in self._checks], dtype=np.intp)
        self._guard_lows, self._guard_highs, self._guard_nan_ok = (
            np.array([check[i] for check in self._checks], dtype=dtype)
            for i, dtype in ((2, np.float64), (3, np.float64), (4, bool)))

    def to_json(self) -> dict:
        """Describe the encoder as plain JSON data."""
        guards = [[index, *values] for index, values in sorted(self.guards.items())]
        return {"bases": [base_to_json(base) for base in self.bases], "number_columns": self.number_columns,
                "guards": guards}

    @classmethod
    def from_json(cls, data: dict) -> RowEncoder:
        """Rebuild an encoder from :meth:`to_json` output."""
        guards = {int(item[0]): (float(item[1]), float(item[2]), bool(item[3])) for item in data.get("guards", [])}
        return cls([base_from_json(item) for item in data["bases"]], data.get("number_columns", []), guards)

    def _check_unread_finite(self, row: dict) -> None:
        # Columns no base reads are checked here; the bases check the columns they read.
        for column in self._unread_numbers:
            value = row[column]
            if value is not None and value - value != 0 and value == value:
                raise _refused(column, value, _FINITE)

    @staticmethod
    def _step(base) -> tuple:
        if isinstance(base, NumBase):
            fill = math.nan if base.fill is None else base.fill
            return (_NUMBER, base.column, fill, -math.inf if base.lo is None else base.lo)
        if isinstance(base, MissingBase):
            return (_MISSING_NUMBER if base.numeric else _MISSING_TEXT, base.column, None, None)
        index = _Index((category, i) for i, category in enumerate(base.categories))  # made once: looked up every batch
        if isinstance(base, CodeBase):
            return (_CODE, base.column, base.fill, (index, base.strict))
        if isinstance(base, OneHotBase):
            return (_ONEHOT, base.column, base.fill, (index, base.strict, base.category))
        table = dict(zip(base.categories, base.values))
        return (_ORDINAL, base.column, base.fill, (table, base.unknown))

    def encode_row(self, row: dict) -> list:
        """Return the base values of one row as a list."""
        self._check_unread_finite(row)
        out = [0.0] * len(self._plan)  # a one-hot indicator stays 0.0 unless its category is the row's
        for kind, where, column, fill, extra in self._row_steps:
            value = row[column]
            if kind == _ONEHOT:  # one lookup for all of a column's indicators
                code = extra[0].get(value, -1)
                if code < 0:  # missing (filled), unseen or refused: the slow path decides
                    code = _code(value, column, fill, extra[0], extra[1])
                for index in where.get(code, ()):
                    out[index] = 1.0
                continue
            if kind == _NUMBER:
                if value is None or value != value:
                    value = fill
                elif value - value != 0:
                    raise _refused(column, value, _FINITE)
                elif value < extra:
                    value = math.nan
            elif kind == _CODE:
                value = _code(value, column, fill, *extra)
            elif kind == _ORDINAL:
                value = _ordinal(value, column, fill, *extra)
            elif kind == _MISSING_NUMBER:
                value = _missing_number(value, column)
            else:
                value = 1.0 if value.__class__ is float and value != value else 0.0
            out[where] = value
        for index, column, low, high, nan_ok in self._checks:
            value = out[index]
            if not low <= value <= high and not (nan_ok and value != value):
                raise _refused(column, row[column], _DOMAIN)
        return out

    def encode_records(self, rows: list[dict]) -> np.ndarray:
        """Return the base values of a list of rows as an (n, bases) float64 array."""
        if len(rows) >= COLUMNWISE_ROWS:  # numpy per column beats Python per row from here on
            columns = dict.fromkeys([*self.number_columns, *(plan[1] for plan in self._plan)])
            data = {column: np.fromiter((row[column] for row in rows), dtype=object, count=len(rows))
                    for column in columns}  # object columns: no dtype guessing, same values as per row
            return self.encode_frame(pd.DataFrame(data, copy=False))
        out = []
        for index, row in enumerate(rows):
            try:
                out.append(self.encode_row(row))
            except SchemaError as error:  # name the row it came from
                raise SchemaError([replace(issue, row=index) for issue in error.issues], error.hint) from None
        return np.array(out, dtype=np.float64).reshape(len(rows), len(self._plan))

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the base values of a DataFrame as an (n, bases) float64 array."""
        numeric = set(self._numeric)
        columns = {column: frame[column].to_numpy(dtype=np.float64, na_value=np.nan) if column in numeric
                   else frame[column].to_numpy(dtype=object) for column in {plan[1] for plan in self._plan} | numeric}
        return self.encode_columns(columns, len(frame))

    def encode_columns(self, columns: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """Return the base values of ``rows`` rows given as columns: float64 numbers, object texts."""
        numbers = np.concatenate([columns[column] for column in self._numeric]) if self._numeric else None
        if numbers is not None and (numbers.dtype == object or np.isinf(numbers).any()):  # isinf reads no objects
            for column in self._numeric:  # NaN is a missing value; the first column with an infinity is named
                _check_finite(columns[column], column)
        out = np.empty((rows, len(self._plan)), dtype=np.float64)
        looked_up: dict = {}  # one lookup per text column, shared by its bases
        for column, fill, lookup, strict, indices, codes in self._onehot:  # all indicators of a column at once
            values, positions = _looked_up(looked_up, columns[column], column, fill, lookup)
            if strict and (positions < 0).any():
                raise _refused_at(column, values, positions < 0, _KNOWN)
            out[:, indices] = positions[:, np.newaxis] == codes
        if self._number_columns:
            out[:, self._number_bases] = _numbers(np.column_stack([columns[column] for column in self._number_columns]),
                                                  self._number_fills, self._number_lows)
        for i, kind, column, fill, extra in self._per_column:
            if kind == _MISSING_NUMBER:
                out[:, i] = np.isnan(columns[column])
            else:
                out[:, i] = _texts(columns[column], column, kind, fill, extra, looked_up)
        if self._checks:
            self._check_guards(out, columns)
        return out

    def _check_guards(self, out: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        """Refuse the rows whose guarded bases fall outside the range scikit-learn keeps finite (the first such column's)."""
        values = out[:, self._guarded]
        accepted = (values >= self._guard_lows) & (values <= self._guard_highs)
        if accepted.all():
            return
        accepted |= np.isnan(values) & self._guard_nan_ok
        for position, (_, column, _, _, _) in enumerate(self._checks):
            if not accepted[:, position].all():
                raise _refused_at(column, columns[column], ~accepted[:, position], _DOMAIN)


_FINITE = "a finite number"
_KNOWN = "a category the model was trained on"
_DOMAIN = ("a value the pipeline's transforms keep finite (this one turns NaN or infinite, "
           "e.g. the log of a number <= 0, and scikit-learn refuses such rows)")
_HINT = "send a value inside the range the model was trained on"


def _refused(column: str, value, expected: str, row: int | None = None) -> SchemaError:
    """The refusal of one value, worded as the schema layer words it."""
    value = value.item() if isinstance(value, np.generic) else value
    return SchemaError([Issue(row, column, expected, show_value(value))], hint=_HINT)


def _refused_at(column: str, values: np.ndarray, refused: np.ndarray, expected: str) -> SchemaError:
    """The refusal of every refused value of a column, each with its row."""
    issues = [Issue(int(row), column, expected, show_value(_item(values[row]))) for row in np.flatnonzero(refused)]
    return SchemaError(issues, hint=_HINT)


def _item(value):
    return value.item() if isinstance(value, np.generic) else value


def _code(value, column: str, fill, index: dict, strict: bool) -> float:
    if fill is not None and value.__class__ is float and value != value:
        value = fill
    code = index.get(value, -1)
    if code < 0 and strict:
        raise _refused(column, value, _KNOWN)
    return code


def _ordinal(value, column: str, fill, table: dict, unknown) -> float:
    if fill is not None and value.__class__ is float and value != value:
        value = fill
    code = table.get(value)
    if code is None:
        if unknown is None:
            raise _refused(column, value, _KNOWN)
        return unknown
    return code


def _missing_number(value, column: str) -> float:
    if value is None or value != value:
        return 1.0
    if value - value != 0:
        raise _refused(column, value, _FINITE)
    return 0.0


def _check_finite(values: np.ndarray, column: str) -> None:
    if values.size and not (math.isfinite(values.min()) and math.isfinite(values.max())):
        infinite = np.isinf(values)  # or only NaN, which is a missing value
        if infinite.any():
            raise _refused_at(column, values, infinite, _FINITE)


def _numbers(values: np.ndarray, fills: np.ndarray, lows: np.ndarray) -> np.ndarray:
    """Impute each column of ``values`` [rows, columns] with its fill, then mark values below its domain's low end
    as NaN; the caller checked them finite."""
    values = np.where(np.isnan(values), fills, values)
    return np.where(values < lows, np.nan, values)


def _texts(values: np.ndarray, column: str, kind: int, fill, extra, looked_up: dict) -> np.ndarray:
    if kind == _MISSING_TEXT:
        return _float_nan(values).astype(np.float64)
    values, positions = _looked_up(looked_up, values, column, fill, extra[0])
    found = positions >= 0
    if kind == _CODE:
        if extra[1] and not found.all():
            raise _refused_at(column, values, ~found, _KNOWN)
        return positions.astype(np.float64)
    table = np.asarray(list(extra[0].values()) + [np.nan], dtype=np.float64)
    if not found.all() and extra[1] is None:
        raise _refused_at(column, values, ~found, _KNOWN)
    return np.where(found, table[positions], extra[1] if extra[1] is not None else np.nan)


def _row_steps(plan: list, onehot_groups: list[tuple]) -> list[tuple]:
    """A row's steps, in base order: (kind, base index, column, fill, extra) a base, but one step for each of
    ``onehot_groups`` (kind, {category code: base indices}, column, fill, (lookup, strict)), at its first base:
    a refusal still comes from the first base that refuses."""
    steps = [(i, (kind, i, column, fill, extra)) for i, (kind, column, fill, extra) in enumerate(plan) if kind != _ONEHOT]
    for column, fill, lookup, strict, indices, codes in onehot_groups:
        where: dict = {}
        for index, code in zip(indices.tolist(), codes.tolist()):
            where.setdefault(code, []).append(index)
        steps.append((int(indices[0]), (_ONEHOT, where, column, fill, (lookup, strict))))
    return [step for _, step in sorted(steps, key=lambda pair: pair[0])]


def _onehot_groups(plan: list) -> list[tuple]:
    """Group one-hot bases by the lookup they share: (column, fill, lookup, strict, base indices, codes)."""
    groups: dict = {}
    for i, (kind, column, fill, extra) in enumerate(plan):
        if kind == _ONEHOT:
            lookup, strict, code = extra
            group = groups.setdefault((column, fill, tuple(lookup), strict), (lookup, [], []))
            group[1].append(i)
            group[2].append(code)
    return [(column, fill, lookup, strict, np.array(indices), np.array(codes))
            for (column, fill, _, strict), (lookup, indices, codes) in groups.items()]


def _looked_up(cache: dict, values: np.ndarray, column: str, fill, lookup: dict) -> tuple:
    key = (column, fill, tuple(lookup))
    if key not in cache:
        cache[key] = _positions(values, fill, lookup)
    return cache[key]


def _positions(values: np.ndarray, fill, lookup: dict) -> tuple:
    """Return (values after imputation, index of each value among the lookup's keys or -1)."""
    index = lookup if type(lookup) is _Index else _Index((key, i) for i, key in enumerate(lookup))
    positions = _lookup(index, values)
    if fill is not None:
        unknown = np.flatnonzero(positions < 0)
        if unknown.size:  # only a value found nowhere can be a NaN to fill: test those alone
            nan_rows = unknown[_float_nan(values[unknown])]
            if nan_rows.size:
                values = values.copy()
                values[nan_rows] = fill
                positions[nan_rows] = index[fill]
    return values, positions


def _float_nan(values: np.ndarray) -> np.ndarray:
    """Mark the float NaNs of an object array; None (and pd.NA) are values of their own here, as in scikit-learn."""
    missing = pd.isna(values)
    if missing.any():
        missing[missing] = [v.__class__ is float for v in values[missing]]
    return missing


def _lookup(index: _Index, values: np.ndarray) -> np.ndarray:
    """Each value's position in ``index``, or -1."""
    # A dict, not pandas: pandas would match None with NaN, scikit-learn keeps them apart.
    try:
        return np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    except TypeError:  # an unhashable value is no category
        return np.fromiter((index.get(v, -1) if v is None or isinstance(v, str) else -1 for v in values),
                           dtype=np.int64, count=len(values))


class _Index(dict):
    """{category: position}; any other value is at position -1."""

    def __missing__(self, key) -> int:
        return -1
