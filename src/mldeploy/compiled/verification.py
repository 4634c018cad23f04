"""Prove a compiled pipeline predicts what ``pipeline.predict`` predicts, on real and edge rows.

Edge rows are made from a sample: a null in every number and text column, an
unseen category, extremes and values outside a function's domain, and +/-inf
in every number column. Non-finite numbers: the compiled form always refuses
them (ValueError). Where scikit-learn refuses them too, that is agreement;
where scikit-learn scores them, the row is counted in ``skipped_rows`` and not
a failure, because the schema layer rejects non-finite numbers before either
predictor runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mldeploy.compiled.one_thread import one_native_thread
from mldeploy.compiled.refusals import answer_rows
from mldeploy.errors import MissingExtraError

__all__ = ["VerifyReport", "check_engines", "edge_rows", "infinite_rows", "refused_positions", "verify"]

_UNSEEN = "\u2400unseen category"
_SHOWN = 3


@dataclass
class VerifyReport:
    """The outcome of comparing the compiled form with scikit-learn."""

    ok: bool = True
    rows: int = 0
    exact_rows: int = 0
    """Rows whose prediction (and probabilities) are bit-identical."""
    max_relative_error: float = 0.0
    refused_rows: int = 0
    """Edge rows both predictors refuse."""
    skipped_rows: int = 0
    """Non-finite edge rows scikit-learn scores and the compiled form refuses."""
    failures: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    """The engines proven to give these results ("native", "numba", "onnxruntime" or "linear")."""

    def fail(self, reason: str) -> None:
        """Record a difference."""
        self.ok = False
        self.failures.append(reason)

    def summary(self) -> str:
        """Say in one line what was checked and what, if anything, differed."""
        head = f"{self.rows} rows, {self.exact_rows} bit-identical, max relative error {self.max_relative_error:.3g}"
        if self.engines:
            head += f" ({', '.join(self.engines)})"
        if self.ok:
            return head
        more = f" (and {len(self.failures) - _SHOWN} more)" if len(self.failures) > _SHOWN else ""
        return f"{head}; {'; '.join(self.failures[:_SHOWN])}{more}"


def edge_rows(sample: pd.DataFrame) -> pd.DataFrame:
    """Return finite edge rows built from the first row of ``sample`` (see the module docstring)."""
    base = sample.iloc[0].to_dict()
    rows = []
    for name in sample.columns:
        column = sample[name]
        if pd.api.types.is_bool_dtype(column):
            rows += [{**base, name: True}, {**base, name: False}]
            if column.isna().any():
                rows.append({**base, name: None})
        elif pd.api.types.is_numeric_dtype(column):
            low, high = float(column.min()), float(column.max())
            span = high - low + 1.0
            for value in (np.nan, low, high, low - span, high + span, 0.0, -1.0, -1.5, 1e12, -1e12):
                rows.append({**base, name: value})
        else:
            rows += [{**base, name: None}, {**base, name: np.nan}, {**base, name: _UNSEEN}]
    return pd.DataFrame(rows, columns=sample.columns).astype(_dtypes(sample), errors="ignore")


def infinite_rows(sample: pd.DataFrame) -> pd.DataFrame:
    """Return rows with +inf and -inf in each number column."""
    base = sample.iloc[0].to_dict()
    rows = [{**base, name: value} for name in sample.columns
            if pd.api.types.is_numeric_dtype(sample[name]) and not pd.api.types.is_bool_dtype(sample[name])
            for value in (np.inf, -np.inf)]
    return pd.DataFrame(rows, columns=sample.columns)


def verify(compiled, pipeline, frame: pd.DataFrame, rtol: float = 1e-9, predicted=None) -> VerifyReport:
    """Compare ``compiled`` with ``pipeline`` on ``frame`` plus its edge rows; never raises for differences.

    ``predicted`` is ``pipeline.predict(frame)`` when the caller has it already (a bundle's prediction profile).
    """
    if predicted is not None and len(predicted) != len(frame):
        raise ValueError(f"predicted: expected one prediction per row of frame ({len(frame)}), got {len(predicted)}")
    with one_native_thread():
        return _verify(compiled, pipeline, frame, rtol, predicted)


def check_engines(compiled, frame: pd.DataFrame, report: VerifyReport) -> None:
    """Add to ``report.engines`` each other tree engine that gives the tree walker's bits on ``frame``.

    The other walker (C or numba) serves where the first cannot run here, the ONNX graph where
    neither can; an engine not proven here is verified against scikit-learn before it serves
    (and an export is checked on its own). Engines that cannot run on this machine are left out.
    """
    from mldeploy.compiled.predictor import WALKERS

    if compiled.engine not in WALKERS:
        return
    bases = compiled.encoder.encode_frame(frame[compiled.columns])
    expected = compiled.scores(bases)
    for engine in (*WALKERS, "onnxruntime"):
        if engine == compiled.engine:
            continue
        try:
            scores = compiled.scores_by(engine, bases)
        except (ValueError, MissingExtraError):
            continue
        if _equal(expected, scores).all():
            report.engines.append(engine)


def _verify(compiled, pipeline, frame: pd.DataFrame, rtol: float, predicted) -> VerifyReport:
    report = VerifyReport(engines=[compiled.engine])
    frame = frame[compiled.columns]
    _compare_batch(report, compiled, pipeline, frame, rtol, "sample", predicted)
    _compare_rows(report, compiled, pipeline, edge_rows(frame), rtol)
    infinite = infinite_rows(frame)
    for i in range(len(infinite)):
        row = infinite.iloc[[i]]
        sklearn_refuses = _refuses(lambda: pipeline.predict(row))
        if not _refuses(lambda: compiled.predict_frame(row)):
            report.fail(f"non-finite edge row {i} is scored by the compiled form")
        elif sklearn_refuses:
            report.refused_rows += 1
        else:
            report.skipped_rows += 1
    return report


def _compare_batch(report: VerifyReport, compiled, pipeline, frame: pd.DataFrame, rtol: float, what: str,
                   predicted=None) -> None:
    expected = pipeline.predict(frame) if predicted is None else np.asarray(predicted)
    got = compiled.predict_frame(frame)
    from_records = compiled.predict_records(_records(frame))
    if not _same(got, from_records):
        report.fail(f"{what}: dicts and DataFrame give different predictions")
    exact = _equal(expected, got)
    error = _relative_error(expected, got) if compiled.classes_ is None else np.where(exact, 0.0, np.inf)
    if compiled.is_classifier:
        proba_error = _relative_error(pipeline.predict_proba(frame), compiled.predict_proba_frame(frame))
        exact &= proba_error.max(axis=1) == 0
        error = np.maximum(error, proba_error.max(axis=1))
    _record(report, error, exact, rtol, what)


def _compare_rows(report: VerifyReport, compiled, pipeline, rows: pd.DataFrame, rtol: float) -> None:
    # Which rows each side refuses, each verdict the one the row gets alone, in a few calls instead of one
    # per row (see refusals.py). The compiled form's refusals, found first and cheaply, are the rows asked
    # of scikit-learn one by one; the rest go in one call, halved only if scikit-learn refuses it.
    compiled_refuses = refused_positions(compiled.predict_frame, rows)
    answered: dict[tuple, np.ndarray] = {}

    def predict(batch: pd.DataFrame) -> np.ndarray:  # what scikit-learn answers a batch, kept for the comparison below
        answered[tuple(batch.index)] = pipeline.predict(batch)
        return answered[tuple(batch.index)]

    sklearn_refuses = refused_positions(predict, rows, suspects=compiled_refuses)
    for i in sorted(sklearn_refuses ^ compiled_refuses):
        who = "scikit-learn" if i in sklearn_refuses else "the compiled form"
        report.fail(f"edge row {_describe(rows, i)}: only {who} refuses it")
    report.refused_rows += len(sklearn_refuses & compiled_refuses)
    accepted = [i for i in range(len(rows)) if i not in sklearn_refuses | compiled_refuses]
    if accepted:
        with np.errstate(all="ignore"):
            # usually the very call that found them accepted (edge rows are numbered from 0): not asked twice
            _compare_batch(report, compiled, pipeline, rows.iloc[accepted], rtol, "edge rows",
                           answered.get(tuple(rows.index[accepted])))


def refused_positions(predict, rows: pd.DataFrame, suspects: Iterable[int] = ()) -> set[int]:
    """The positions of the rows ``predict`` refuses (ValueError, TypeError), each confirmed alone.

    ``suspects`` are positions likely refused, asked alone from the start; a wrong guess costs calls, never a verdict.
    """
    def ask(positions: list[int]):
        return None if _refuses(lambda: predict(rows.iloc[positions])) else positions

    return {i for i, answer in enumerate(answer_rows(ask, len(rows), suspects)) if answer is None}


def _records(frame: pd.DataFrame) -> list[dict]:
    """``frame.to_dict("records")``: the same dicts of the same Python values, 7x quicker (tolist() boxes a column).

    Only for NumPy columns of Python values: pandas' own types (nullable integers, categories) and numpy scalars
    inside object columns are boxed pandas' own way, so those frames go through ``to_dict``.
    """
    if not all(isinstance(dtype, np.dtype) for dtype in frame.dtypes):
        return frame.to_dict("records")
    names = list(frame.columns)
    columns = [frame[name].tolist() for name in names]
    for name, values in zip(names, columns):  # numpy scalars held as objects: pandas boxes them its own way too
        if frame[name].dtype == object and any(isinstance(value, np.generic) for value in values):
            return frame.to_dict("records")
    return [dict(zip(names, row)) for row in zip(*columns)]


def _record(report: VerifyReport, error: np.ndarray, exact: np.ndarray, rtol: float, what: str) -> None:
    report.rows += len(error)
    report.exact_rows += int(np.sum(exact))
    finite = error[np.isfinite(error)]
    report.max_relative_error = max(report.max_relative_error, float(finite.max(initial=0.0)))
    bad = np.flatnonzero(~(error <= rtol))
    if bad.size:
        report.fail(f"{what}: {bad.size} rows differ beyond {rtol:g} (first: row {int(bad[0])})")


def _relative_error(expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    with np.errstate(all="ignore"):
        scale = np.maximum(np.abs(expected), np.abs(got))
        error = np.where(expected == got, 0.0, np.abs(expected - got) / scale)
    return np.where(np.isnan(expected) & np.isnan(got), 0.0, np.nan_to_num(error, nan=np.inf))


def _equal(expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.dtype.kind == "f" and got.dtype.kind == "f":
        same_bits = expected.view(np.uint64) == got.astype(np.float64).view(np.uint64)
        return same_bits | (np.isnan(expected) & np.isnan(got))
    return np.asarray(expected == got, dtype=bool)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(_equal(np.asarray(a), np.asarray(b))))


def _refuses(predict) -> bool:
    try:
        with np.errstate(all="ignore"):
            predict()
    except (ValueError, TypeError):
        return True
    return False


def _describe(rows: pd.DataFrame, i: int) -> str:
    return f"{i} ({', '.join(f'{k}={v!r}' for k, v in rows.iloc[i].items())[:160]})"


def _dtypes(sample: pd.DataFrame) -> dict:
    return {name: dtype for name, dtype in sample.dtypes.items() if pd.api.types.is_float_dtype(dtype)}
