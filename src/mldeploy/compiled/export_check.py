"""Prove an exported ONNX model predicts what ``pipeline.predict`` predicts, before anyone ships it.

The exported graph is a second implementation of the pipeline (the row encoder
rewritten as ONNX operators), so it gets its own proof: onnxruntime, one thread
(trees summed in scikit-learn's order), runs it on the bundle's sample and the
same edge rows as :func:`~mldeploy.compiled.verification.verify`; a row the graph
marks ``refused`` counts as refused, like a ValueError from scikit-learn.

The graph has one marker for an empty text (""), which stands for the empty
value training had (None or NaN, the input's ``text_null``), as mldeploy's
validation hands it to the pipeline; the pipeline is asked with empty texts
given that way, the way it is served.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mldeploy.compiled.export import onnx_inputs
from mldeploy.compiled.graph import make_session
from mldeploy.compiled.verification import VerifyReport, verify

__all__ = ["ExportedModel", "verify_export"]


class ExportedModel:
    """Run an exported model with onnxruntime through the interface :func:`verify` checks."""

    def __init__(self, model_bytes: bytes, column_kinds: dict[str, str], classes=None) -> None:
        self._session = make_session(model_bytes)  # one thread: trees summed in order, scikit-learn's bits
        self._outputs = [output.name for output in self._session.get_outputs()]
        inputs = json.loads(self._session.get_modelmeta().custom_metadata_map["mldeploy.inputs"])
        self.text_null = {item["name"]: item["text_null"] for item in inputs if "text_null" in item}
        """{text column: "none" or "nan"}: what the empty-text marker stands for."""
        self._kinds = dict(column_kinds)
        self.columns = list(column_kinds)
        self.classes_ = classes
        self.engine = "onnxruntime"

    @property
    def is_classifier(self) -> bool:
        """Whether the model gives labels and probabilities."""
        return self.classes_ is not None

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the ``label`` or ``prediction`` output; raise ValueError when the graph refuses a row."""
        out = self._run(frame)
        return out["label"] if self.is_classifier else out["prediction"]

    def predict_records(self, rows: list[dict]) -> np.ndarray:
        """Like :meth:`predict_frame`, for rows given as dicts."""
        return self.predict_frame(pd.DataFrame.from_records(rows, columns=self.columns))

    def predict_proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the ``probabilities`` output."""
        return self._run(frame)["probabilities"]

    def _run(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        out = dict(zip(self._outputs, self._session.run(None, onnx_inputs(frame, self._kinds))))
        refused = np.flatnonzero(out["refused"])
        if refused.size:
            raise ValueError(f"the exported model refuses row {int(refused[0])}")
        return out


class _AsServed:
    """The pipeline as mldeploy serves it: an empty text reaches it as training had it (None or NaN)."""

    def __init__(self, pipeline, text_null: dict[str, str]) -> None:
        self._pipeline = pipeline
        self._text_null = text_null

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self._pipeline.predict(self._served(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self._pipeline.predict_proba(self._served(frame))

    def _served(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, null in self._text_null.items():
            values = frame[column].to_numpy(dtype=object).copy()
            values[pd.isna(values)] = None if null == "none" else np.nan
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
        return frame


def verify_export(model_bytes: bytes, compiled, pipeline, frame: pd.DataFrame, rtol: float = 1e-9) -> VerifyReport:
    """Compare the exported model with ``pipeline`` on ``frame`` plus edge rows; never raises for differences."""
    exported = ExportedModel(model_bytes, compiled.spec["column_kinds"], compiled.classes_)
    return verify(exported, _AsServed(pipeline, exported.text_null), frame, rtol)
