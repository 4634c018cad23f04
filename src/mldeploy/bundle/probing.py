"""Learn what a fitted pipeline accepts by asking it: empty values, unseen categories, the ends of each range.

Every first question (an empty value, an unseen category, each widened bound and
each end of the training range, for every field) goes to the pipeline in one
batch of rows, one row per question; only a batch the pipeline refuses is split
in halves until the refused rows stand alone. Questions a ``suspect`` (the
compiled form, already verified) expects refused are asked alone from the start,
which spares the halving. Each answer is the one its row gets alone: serving
relies on the same property, that a pipeline refuses a batch exactly when it
refuses one of its rows. A refused widened bound is then narrowed by bisection,
one question at a time.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from mldeploy.bundle.schema import Field, Schema
from mldeploy.compiled.refusals import answer_rows
from mldeploy.validation.checks import validate_frame

__all__ = ["probe_schema"]

_UNSEEN_PROBE = "__mldeploy_unseen_category__"
_RANGE_PROBES = 40


def probe_schema(pipeline, schema: Schema, sample: pd.DataFrame,
                 suspect: Callable[[pd.DataFrame], Iterable[int]] | None = None) -> Schema:
    """Return ``schema`` with each field's empty values, unseen categories and range as the pipeline accepts them.

    ``suspect(rows)`` may name the positions of probe rows the pipeline likely refuses; it only
    decides how questions are grouped, never an answer.
    """
    answers = _Answers(pipeline, validate_frame(schema, sample.iloc[:1], missing="as-trained"), suspect)
    answers.ask_all([q for f in schema.fields for q in _first_questions(f, sample[f.name])])
    fields = []
    for f in schema.fields:
        if f.type in ("category", "string"):
            fields.append(_probe_text(answers, f, sample[f.name]))
        else:
            f = replace(f, nullable=answers.accepts(f.name, np.nan))
            fields.append(_probe_range(answers, f, sample[f.name]) if f.type != "boolean" else f)
    return Schema(tuple(fields), schema.output)


def _first_questions(f: Field, column: pd.Series) -> list[tuple[str, object]]:
    if f.type in ("category", "string"):
        return [(f.name, np.nan), (f.name, None), (f.name, _UNSEEN_PROBE)]
    questions = [(f.name, np.nan)]
    if f.type != "boolean":
        seen = _seen(column)
        if seen.size:
            questions += [(f.name, v) for v in (f.minimum, f.maximum, float(seen.min()), float(seen.max())) if v is not None]
    return questions


def _probe_text(answers: "_Answers", f: Field, column: pd.Series) -> Field:
    """Probe None and NaN separately (scikit-learn treats them apart) and an unseen value."""
    nulls = tuple(marker for marker, value in (("nan", np.nan), ("none", None)) if answers.accepts(f.name, value))
    unseen = "accept" if answers.accepts(f.name, _UNSEEN_PROBE) else "reject"
    if f.type == "string" and unseen == "reject":  # too many to list as a category, yet the pipeline knows them all
        categories = tuple(sorted(column.dropna().unique().tolist()))
        return replace(f, type="category", categories=categories, nullable=f.text_null in nulls, nulls=nulls, unseen=unseen)
    return replace(f, nullable=f.text_null in nulls, nulls=nulls, unseen=unseen)


def _probe_range(answers: "_Answers", f: Field, column: pd.Series) -> Field:
    """Narrow a widened bound the pipeline refuses (the log of 0) to the last value it accepts."""
    seen = _seen(column)
    if not seen.size:
        return f
    low = _accepted_bound(answers, f.name, f.minimum, float(seen.min()))
    high = _accepted_bound(answers, f.name, f.maximum, float(seen.max()))
    if f.type == "integer":
        low = None if low is None else float(np.ceil(low))
        high = None if high is None else float(np.floor(high))
    return replace(f, minimum=low, maximum=high)


def _seen(column: pd.Series) -> np.ndarray:
    seen = column.to_numpy(dtype="float64", na_value=np.nan)
    return seen[np.isfinite(seen)]


def _accepted_bound(answers: "_Answers", column: str, bound: float | None, seen: float) -> float | None:
    if bound is None or answers.accepts(column, bound) or not answers.accepts(column, seen):
        return bound
    accepted, refused = seen, bound
    for _ in range(_RANGE_PROBES):  # bisect: refusals start at one point (a domain's edge)
        middle = (accepted + refused) / 2
        if middle in (accepted, refused):
            break
        if answers.accepts(column, middle):
            accepted = middle
        else:
            refused = middle
    return accepted


class _Answers:
    """Whether the pipeline accepts the base row with one field changed; answers kept, asked in batches."""

    def __init__(self, pipeline, base: pd.DataFrame, suspect: Callable[[pd.DataFrame], Iterable[int]] | None = None):
        self._pipeline = pipeline
        self._base = base
        self._suspect = suspect
        self._known: dict[tuple, bool] = {}

    def accepts(self, column: str, value) -> bool:
        """Return whether the pipeline predicts a finite value for the base row with ``column`` set to ``value``."""
        key = _key(column, value)
        if key not in self._known:
            self.ask_all([(column, value)])
        return self._known[key]

    def ask_all(self, questions: list[tuple[str, object]]) -> None:
        """Answer every question with as few predictions as the refusals allow."""
        new = list({_key(c, v): (c, v) for c, v in questions if _key(c, v) not in self._known}.values())
        if not new:
            return
        rows = self._rows(new)
        suspects = self._suspect(rows) if self._suspect is not None and len(new) > 1 else ()
        answers = answer_rows(lambda positions: self._predict(rows.iloc[positions]), len(new), suspects)
        for (column, value), result in zip(new, answers):
            self._known[_key(column, value)] = result is not None and _finite(result)

    def _rows(self, questions: list) -> pd.DataFrame:
        """One row per question: the base row with that question's field set, built column by column.

        Each changed column is the base value's column joined with the asked values by pd.concat, so
        its dtype and values are what joining one-row frames would give (None stays None in text,
        an int column asked NaN turns float, a bool one object), without copying a frame per row.
        """
        asked: dict[str, list[int]] = {}
        for position, (column, _) in enumerate(questions):
            asked.setdefault(column, []).append(position)
        repeated = [0] * len(questions)
        columns = {}
        for name in self._base.columns:
            column = self._base[name].iloc[repeated].reset_index(drop=True)
            if name in asked:
                positions = asked[name]
                values = pd.Series([questions[p][1] for p in positions], index=positions,
                                   dtype=object if column.dtype == object else "float64")
                rest = column.drop(index=positions)
                column = (pd.concat([rest, values]) if len(rest) else values).sort_index()
            columns[name] = column
        return pd.DataFrame(columns, index=pd.RangeIndex(len(questions)))

    def _predict(self, rows: pd.DataFrame):
        try:
            with warnings.catch_warnings():  # a probe outside a function's domain warns (log of 0): that is the question
                warnings.simplefilter("ignore")
                result = np.asarray(self._pipeline.predict(rows), dtype=object)
        except Exception:  # any refusal by the user's pipeline means "not accepted"
            return None
        return result.reshape(len(rows), -1)


def _key(column: str, value) -> tuple:
    """A dict key for a question: NaN is not equal to itself, so it is named."""
    return (column, "NaN") if isinstance(value, float) and math.isnan(value) else (column, type(value).__name__, value)


def _finite(values) -> bool:
    return all(v is not None and (not isinstance(v, float) or np.isfinite(v)) for v in np.ravel(values))
