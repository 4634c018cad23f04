"""Model: a loaded bundle that validates input once and predicts on the fastest exact path.

Every adapter predicts through :meth:`Model.infer`, which returns one
:class:`~mldeploy.serving.result.Prediction`, or :meth:`Model.infer_accepted`,
which sets invalid rows aside with their issues and predicts the rest in one
call (an :class:`~mldeploy.serving.result.Accepted`).

Example::

    import mldeploy
    model = mldeploy.load("salary:production")
    model.predict({"years_experience": 4, "age": 29, ...})   # one dict -> one value
    result = model.infer(frame)                              # DataFrame or list of dicts -> Prediction
    result.values, result.ref                                # the estimates, and salary@3 that made them
    accepted = model.infer_accepted(rows)                    # bad rows set aside: accepted.refused {row: issues}
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.compiled.plan import StepPlan
from mldeploy.bundle.options import EXTRA_CHOICES, MISSING_CHOICES, Extra, Missing, Task, check_extra, check_missing
from mldeploy.errors import BundleError, Issue, PredictionError, SchemaError, UnsupportedError
from mldeploy.serving._compiled_path import load_compiled
from mldeploy.serving._inputs import InputRouter
from mldeploy.serving._threads import check_threads, infer_sliced
from mldeploy.serving.result import Accepted, Prediction, ServingPath

__all__ = ["Model", "Prepared", "Refuse", "ServingPlan"]

Refuse = Literal["input", "rows"]
"""What a bad row refuses: the whole ``input`` (SchemaError), or only its own row (set aside with its issues)."""

_NOTHING_REFUSED: Mapping[int, list[Issue]] = MappingProxyType({})


class Prepared(NamedTuple):
    """Input that :meth:`Model.prepare` validated and encoded, for :meth:`Model.compute` of the same model."""

    model: Model
    rows: int
    """Rows to compute: the accepted ones."""
    payload: object
    """Base values for the compiled form (float64 [rows, bases]), else the clean frame for scikit-learn."""
    refused: Mapping[int, list[Issue]] = _NOTHING_REFUSED
    """Input position -> issues of each row set aside (``refuse="rows"``), in input order."""
    hint: str = ""
    """The validator's advice for the refused rows."""


@dataclass(frozen=True)
class ServingPlan:
    """Which path serves a model (compiled or scikit-learn), why, and how each step was compiled."""

    path: ServingPath
    reason: str
    steps: tuple[StepPlan, ...]


class Model:
    """A bundle's pipeline, ready to predict; input is validated against the bundle's schema.

    Predictions come from the bundle's compiled form (exact, microseconds per
    row) when it has one that verifies here, else from the scikit-learn
    pipeline; :meth:`explain_plan` says which and why.
    """

    def __init__(self, bundle: Bundle, trusted=(), allow_version_mismatch: bool = False, use_compiled: bool = True,
                 threads: int | None = None):
        """Load ``bundle``'s compiled form, and its pipeline where the compiled form cannot serve.

        ``threads`` is how many threads one large prediction (16,384 rows or more, on the compiled
        path) may use: None, the default, means every core this process may run on; 1 keeps every
        prediction on the calling thread (what a server's event loop wants). Raises ConfigError for
        anything but None or a whole number from 1 to 256.
        """
        self.threads = check_threads(threads)
        """Threads one large prediction may use."""
        self.bundle = bundle
        self.schema = bundle.schema
        self._pipeline = None
        self._pipeline_lock = threading.Lock()
        self._load_pipeline = bundle.pipeline_loader(trusted, allow_version_mismatch)  # the file is checked now
        self.compiled, self._compiled_reason = (load_compiled(bundle, lambda: self.pipeline) if use_compiled
                                                else (None, "use_compiled=False"))
        self.path = ServingPath.COMPILED if self.compiled is not None else ServingPath.SCIKIT_LEARN
        if self.compiled is None:
            self.pipeline  # noqa: B018 - scikit-learn serves: load it now, so a bad pipeline fails here
        self.ref: BundleRef = bundle.ref
        self.task = Task(bundle.manifest.task)
        classes = bundle.schema.output.classes
        self.classes: list | None = list(classes) if classes is not None else None
        self._classes = tuple(classes) if classes is not None else None
        self._router = InputRouter(bundle.schema, self.compiled is not None)
        self._has_proba = self.task is Task.CLASSIFICATION and (
            self.compiled.has_proba if self.compiled is not None else hasattr(self.pipeline, "predict_proba"))

    @property
    def pipeline(self):
        """The scikit-learn pipeline, deserialised (with the trust check) on first use.

        Its file was read and its digest checked when the model loaded. A model served by
        its compiled form, verified for the libraries installed here, never needs it to
        predict: such a process imports neither skops nor scikit-learn until something
        asks for the pipeline (a re-verification, an ONNX check, your code).
        """
        if self._pipeline is None:
            with self._pipeline_lock:
                if self._pipeline is None:
                    self._pipeline = self._load_pipeline()
                    self._load_pipeline = None  # the file's bytes are no longer needed
        return self._pipeline

    def infer(self, data, extra: Extra = "reject", missing: Missing = "as-given") -> Prediction:
        """Validate ``data`` once and predict it: the one call every adapter makes.

        ``data`` is one dict, a list of dicts or a DataFrame. A classifier's
        result has labels and class probabilities from the same pass. Raises
        SchemaError naming every bad field of every bad row, and PredictionError
        when the pipeline fails on input that passed validation. A large input is
        spread over the model's ``threads``, with the same result to the bit.
        ``extra="ignore"`` accepts fields the schema does not know; ``missing``
        says how empty values reach the pipeline (see :mod:`mldeploy.bundle.options`).
        """
        if self.threads > 1 and self.compiled is not None:
            prediction = infer_sliced(self, data, extra, missing, self.threads)
            if prediction is not None:
                return prediction
        return self.compute(self.prepare(data, extra, missing))

    def infer_accepted(self, data, extra: Extra = "reject", missing: Missing = "as-given",
                       max_issues: int | None = None) -> Accepted:
        """Like :meth:`infer`, but a bad row refuses only itself: it is set aside with its issues.

        The rows that pass are predicted together in one call, and the result names every
        refused row's input position and issues. Input wrong as a whole (a missing column,
        not rows at all) still raises SchemaError. Costs nothing more than :meth:`infer`
        while every row is valid; with bad rows, the rest is validated once more, together.

        ``max_issues`` bounds the work bad input can cause: an input with more issues than that
        is refused as a whole (SchemaError with the first ``max_issues`` and ``total``), since
        setting its rows aside would need every issue built.
        """
        if self.threads > 1 and self.compiled is not None:
            accepted = infer_sliced(self, data, extra, missing, self.threads, accepted=True, max_issues=max_issues)
            if accepted is not None:
                return accepted
        return self.compute_accepted(self.prepare(data, extra, missing, refuse="rows", max_issues=max_issues))

    def prepare(self, data, extra: Extra = "reject", missing: Missing = "as-given", refuse: Refuse = "input",
                max_issues: int | None = None) -> Prepared:
        """Validate ``data`` and encode it for the numeric step: the first half of :meth:`infer`.

        Raises what :meth:`infer` raises for bad input; with ``refuse="rows"`` rows with issues
        are set aside in ``Prepared.refused`` instead (see :meth:`infer_accepted`). The two
        halves let a caller overlap them: the compiled path's numeric step (:meth:`compute`)
        releases the GIL, so one thread can prepare the next batch while another computes this one.
        """
        if extra not in EXTRA_CHOICES or missing not in MISSING_CHOICES:  # checked inline: this is the hot path
            check_extra(extra)
            check_missing(missing)
        try:
            routed = self._router.route(data, extra, missing, max_issues)
            return self._encoded(routed.rows, routed)
        except SchemaError as error:  # from validation, or from the encoder (a value the compiled form refuses)
            if refuse != "rows" or error.is_truncated:  # rows cannot be set aside by issues never built
                raise
            return self._prepare_accepted(data, extra, missing, error, max_issues)

    def _encoded(self, rows: int, routed, refused=_NOTHING_REFUSED, hint: str = "") -> Prepared:
        if rows == 0 or self.compiled is None:
            return Prepared(self, rows, routed.payload if routed is not None else None, refused, hint)  # a frame
        try:
            return Prepared(self, rows, routed.bases(self.compiled.encoder), refused, hint)
        except (SchemaError, UnsupportedError):
            raise
        except Exception as exc:
            raise PredictionError(f"{self.ref}: the {self.path.value} path failed on valid input: {exc}") from exc

    def _prepare_accepted(self, data, extra: str, missing: str, error: SchemaError, max_issues: int | None) -> Prepared:
        """Set aside the rows ``error`` names and validate the rest once more, together (never row by row)."""
        refused: dict[int, list[Issue]] = {}
        hint, kept = error.hint, None
        while True:  # a second pass only finds more when a row's issues hid behind another's; each pass drops one row at least
            if not error.issues or error.is_truncated or any(issue.row is None for issue in error.issues):
                raise error  # wrong for every row alike (a column missing or unknown, not rows at all)
            if kept is None:
                kept = list(range(1 if isinstance(data, Mapping) else len(data)))
            for issue in error.issues:
                position = kept[issue.row]
                refused.setdefault(position, []).append(issue if issue.row == position else replace(issue, row=position))
            kept = [p for p in kept if p not in refused]
            if not kept:
                return self._encoded(0, None, _in_order(refused), hint)
            try:
                routed = self._router.route(_subset(data, kept), extra, missing, max_issues)
                return self._encoded(routed.rows, routed, _in_order(refused), hint)
            except SchemaError as again:
                error = again

    def compute(self, prepared: Prepared) -> Prediction:
        """Predict input from :meth:`prepare` of this model: the second half of :meth:`infer`.

        With rows set aside by ``prepare(..., refuse="rows")``, predicts the accepted ones
        (:meth:`compute_accepted` keeps the refused ones beside them).
        """
        if prepared.model is not self:
            raise ValueError(f"input prepared by {prepared.model.ref} cannot be computed by {self.ref}")
        try:
            values, proba = self._compute(prepared)
        except (SchemaError, UnsupportedError):
            raise
        except Exception as exc:  # anything from inside scikit-learn or the compiled form
            raise PredictionError(f"{self.ref}: the {self.path.value} path failed on valid input: {exc}") from exc
        return Prediction(self.ref, self.path, values, proba, self._classes)

    def compute_accepted(self, prepared: Prepared) -> Accepted:
        """Predict input from ``prepare(..., refuse="rows")``: the second half of :meth:`infer_accepted`."""
        return Accepted(self.compute(prepared), prepared.refused, prepared.hint)

    def predict(self, data, extra: Extra = "reject", missing: Missing = "as-given"):
        """Predict for one dict (returns one value) or a DataFrame / list of dicts (returns an array)."""
        values = self.infer(data, extra, missing).values
        return _scalar(values[0]) if isinstance(data, Mapping) else values

    def predict_proba(self, data, extra: Extra = "reject", missing: Missing = "as-given"):
        """Return class probabilities (columns in ``classes``) for a classifier."""
        if not self._has_proba:
            raise UnsupportedError(f"{self.ref} is a {self.task.value} model without class probabilities; "
                                   "predict_proba needs a probabilistic classifier")
        proba = self.infer(data, extra, missing).probabilities
        return proba[0] if isinstance(data, Mapping) else proba

    def explain_plan(self) -> ServingPlan:
        """Say which path predicts (compiled or scikit-learn), why, and how each step was compiled."""
        return ServingPlan(self.path, self._compiled_reason, self.bundle.manifest.compiled_info.plan)

    def export_onnx(self, verify: bool = True) -> bytes:
        """Return the whole pipeline as one standalone, exact ONNX model (for a browser, a phone, any runtime).

        Inputs are one named column each; see :mod:`mldeploy.compiled.export` for the conventions.
        With ``verify`` (the default) the model is first run by onnxruntime on the bundle's
        sample and edge rows and compared with scikit-learn (see :meth:`verify_onnx`);
        a difference raises BundleError instead of handing out a wrong model.
        """
        if self.compiled is None:
            raise UnsupportedError(f"{self.ref} has no usable compiled form ({self._compiled_reason}); ONNX export needs one")
        from mldeploy.compiled import export_onnx

        nulls = {f.name: f.text_null for f in self.schema.fields if f.type in ("category", "string")}
        data = export_onnx(self.compiled, text_null=nulls)
        if verify:
            self.verify_onnx(data)
        return data

    def verify_onnx(self, data: bytes):
        """Check an exported model against ``pipeline.predict`` on the bundle's sample and edge rows.

        Returns the :class:`~mldeploy.compiled.VerifyReport`; raises BundleError when any row differs.
        """
        from mldeploy.compiled import verify_export

        report = verify_export(data, self.compiled, self.pipeline, self.bundle.sample())
        if not report.ok:
            raise BundleError(f"{self.ref}: the exported ONNX model does not match scikit-learn "
                              f"({report.summary()}); keep using the bundle and report this")
        return report

    def _compute(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray | None]:
        if prepared.rows == 0:
            return self._empty()
        if self.compiled is not None:
            values, proba = self.compiled.finish(self.compiled.scores(prepared.payload))
            return values, proba if self._has_proba else None
        frame = prepared.payload
        values = np.asarray(self.pipeline.predict(frame))
        return values, self.pipeline.predict_proba(frame) if self._has_proba else None

    def _empty(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.task is Task.CLASSIFICATION:
            proba = np.empty((0, len(self._classes or ()))) if self._has_proba else None
            return np.empty(0, dtype=object), proba
        return np.empty(0, dtype="float64"), None

    def __repr__(self) -> str:
        return f"Model({self.ref}, task={self.task.value!r}, path={self.path.value!r})"


def _subset(data, positions: list[int]):
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, pd.DataFrame):
        return data.iloc[positions]
    return [data[p] for p in positions]


def _in_order(refused: dict[int, list[Issue]]) -> dict[int, list[Issue]]:
    return dict(sorted(refused.items()))


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value
