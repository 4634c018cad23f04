"""Model: a loaded bundle that validates input and predicts in this process.

Example::

    import mldeploy
    model = mldeploy.load("salary:production")
    model.predict({"years_experience": 4, "age": 29, ...})   # one dict -> one value
    model.predict(frame)                                     # DataFrame or list of dicts -> array
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.bundle.fast_columns import ColumnCleaner
from mldeploy.bundle.fast_row import clean_row
from mldeploy.bundle.validation import validate
from mldeploy.embedded._compiled_path import load_compiled
from mldeploy.embedded._row_frame import RowFrameBuilder
from mldeploy.errors import BundleError, NotFoundError

__all__ = ["Model", "load"]

# Batch sizes for the plain checks (measured in benchmarks/): up to a few rows, row by row;
# then column by column with numpy; beyond, pandas' bulk validator costs no more.
_ROW_PATH_MAX_ROWS = 16
_COLUMN_PATH_MAX_ROWS = 1024


class Model:
    """A bundle's pipeline, ready to predict; input is validated against the bundle's schema.

    Predictions come from the bundle's compiled form (exact, microseconds per
    row) when it has one that verifies here, else from the scikit-learn
    pipeline; :meth:`explain_plan` says which and why.
    """

    def __init__(self, bundle: Bundle, trusted=(), allow_version_mismatch: bool = False, use_compiled: bool = True):
        self.bundle = bundle
        self.schema = bundle.schema
        self.pipeline = bundle.load_pipeline(trusted=trusted, allow_version_mismatch=allow_version_mismatch)
        self.compiled, self._compiled_reason = load_compiled(bundle, self.pipeline) if use_compiled else (None, "use_compiled=False")
        self._names = bundle.schema.names
        self._row_frame = RowFrameBuilder(bundle.schema)
        self._column_cleaner = ColumnCleaner(bundle.schema)

    @property
    def ref(self) -> BundleRef:
        """``name@version`` of the loaded bundle."""
        return self.bundle.ref

    @property
    def task(self) -> str:
        """``regression`` or ``classification``."""
        return self.bundle.manifest.task

    def predict(self, data, extra: str = "reject"):
        """Predict for one dict (returns one value) or a DataFrame / list of dicts (returns an array).

        Raises SchemaError naming every bad field of every bad row. ``extra="ignore"``
        accepts fields the schema does not know.
        """
        if isinstance(data, Mapping):
            return _scalar(self._predict_one(data, extra, proba=False))
        return self._predict_many(data, extra, proba=False)

    def predict_proba(self, data, extra: str = "reject"):
        """Return class probabilities (columns in ``classes``) for a classifier."""
        if self.task != "classification":
            raise BundleError(f"{self.ref} is a {self.task} model; predict_proba needs a classifier")
        if isinstance(data, Mapping):
            return self._predict_one(data, extra, proba=True)
        return self._predict_many(data, extra, proba=True)

    def explain_plan(self) -> dict:
        """Say which path predicts (compiled or scikit-learn), why, and how each step was compiled."""
        info = self.bundle.manifest.compiled or {}
        return {
            "path": "compiled" if self.compiled is not None else "scikit-learn",
            "reason": self._compiled_reason,
            "steps": info.get("plan", []),
        }

    @property
    def classes(self) -> list | None:
        """The class labels of a classifier, in ``predict_proba`` column order."""
        output = self.schema.output
        return list(output.classes) if output.classes is not None else None

    def export_onnx(self, verify: bool = True) -> bytes:
        """Return the whole pipeline as one standalone, exact ONNX model (for a browser, a phone, any runtime).

        Inputs are one named column each; see :mod:`mldeploy.compiled.export` for the conventions.
        With ``verify`` (the default) the model is first run by onnxruntime on the bundle's
        sample and edge rows and compared with scikit-learn (see :meth:`verify_onnx`);
        a difference raises BundleError instead of handing out a wrong model.
        """
        if self.compiled is None:
            raise BundleError(f"{self.ref} has no usable compiled form ({self._compiled_reason}); ONNX export needs one")
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

    def _predict_clean(self, data, extra: str, proba: bool) -> np.ndarray | None:
        """Predict with the compiled form when plain checks pass; None sends the input to the bulk validator.

        The plain checks (per row for a few rows, else per column with numpy) skip
        pandas' fixed per-column costs; any doubt goes to the bulk path, which words the error.
        """
        is_frame = isinstance(data, pd.DataFrame)
        if self.compiled is None or not (is_frame or isinstance(data, (list, tuple))):
            return None
        if not 0 < len(data) <= _COLUMN_PATH_MAX_ROWS or (is_frame and not data.columns.is_unique):
            return None
        if extra != "reject" and not is_frame:
            return None
        if len(data) <= _ROW_PATH_MAX_ROWS:
            if is_frame and len(data.columns) != len(self._names):
                return None  # also a frame of rows without columns, which would zip to no rows
            rows = self._clean_rows(_frame_rows(data) if is_frame else data)
            if rows is None:
                return None
            return self.compiled.predict_proba_records(rows) if proba else self.compiled.predict_records(rows)
        if is_frame:
            columns = self._column_cleaner.clean_frame(data, extra)
        else:
            columns = self._column_cleaner.clean_records(data)
        if columns is None:
            return None
        predict = self.compiled.predict_proba_columns if proba else self.compiled.predict_columns
        return predict(columns, len(data))

    def _clean_rows(self, rows) -> list[dict] | None:
        clean = []
        for row in rows:
            values = clean_row(self.schema, row) if isinstance(row, Mapping) else None
            if values is None:
                return None
            clean.append(dict(zip(self._names, values)))
        return clean

    def _predict_many(self, data, extra: str, proba: bool) -> np.ndarray:
        fast = self._predict_clean(data, extra, proba)
        if fast is not None:
            return fast
        frame = validate(self.schema, data, extra)
        if frame.empty:
            if proba:
                return np.empty((0, len(self.classes or [])))
            return np.empty(0, dtype=object if self.task == "classification" else "float64")
        return self._predict_frame(frame, proba)

    def _predict_one(self, row: Mapping, extra: str, proba: bool):
        values = clean_row(self.schema, row) if extra == "reject" else None
        if values is not None and self.compiled is not None:
            clean = [dict(zip(self._names, values))]
            return (self.compiled.predict_proba_records(clean) if proba else self.compiled.predict_records(clean))[0]
        # The bulk path words any error, and serves rows with fields to ignore.
        frame = validate(self.schema, [row], extra) if values is None else self._row_frame.frame(values)
        return self._predict_frame(frame, proba)[0]

    def _predict_frame(self, frame: pd.DataFrame, proba: bool) -> np.ndarray:
        if self.compiled is not None:
            return self.compiled.predict_proba_frame(frame) if proba else self.compiled.predict_frame(frame)
        return self.pipeline.predict_proba(frame) if proba else np.asarray(self.pipeline.predict(frame))

    def __repr__(self) -> str:
        return f"Model({self.ref}, task={self.task!r})"


def load(ref, registry=None, trusted=(), public_key=None, allow_version_mismatch: bool = False, use_compiled: bool = True) -> Model:
    """Load a model from a registry reference, a bundle folder, an archive file or a Bundle.

    ``ref`` is ``name@version``, ``name:alias``, ``name`` (latest), or an explicit path (``./folder``, an absolute path, ``file:``).
    ``registry`` is a Registry, a folder or a database URL (default: ``$MLDEPLOY_REGISTRY``, else ./.mldeploy);
    see :func:`mldeploy.registry.open_registry`. ``public_key`` is required of whatever the source.
    ``trusted`` names extra types (e.g. your own transformer classes) the pipeline may hold.
    """
    bundle = _find_bundle(ref, registry, public_key)
    return Model(bundle, trusted=trusted, allow_version_mismatch=allow_version_mismatch, use_compiled=use_compiled)


def _find_bundle(ref, registry, public_key) -> Bundle:
    from mldeploy.registry import Registry, bundle_path, open_registry

    if isinstance(ref, Bundle):
        return Bundle.open(ref.path, public_key=public_key) if public_key is not None else ref
    path = bundle_path(ref)  # only explicit paths: "salary" is the registry's, even beside a folder of that name
    if path is not None:
        if path.is_file():
            return Bundle.from_archive(path.read_bytes(), public_key=public_key)
        return Bundle.open(path, public_key=public_key)
    opened = open_registry(registry, public_key=public_key)
    try:
        return opened.get(ref)
    except NotFoundError as exc:
        if isinstance(ref, str) and Path(ref).exists():
            raise NotFoundError(f"{exc}; to load the file or folder {ref}, write ./{ref}") from exc
        raise
    finally:
        if not isinstance(registry, Registry):
            opened.close()


def _frame_rows(frame: pd.DataFrame) -> list[dict]:
    # Column lists are plain Python values (NaN stays float NaN): what clean_row expects.
    columns = {name: frame[name].tolist() for name in frame.columns}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value
