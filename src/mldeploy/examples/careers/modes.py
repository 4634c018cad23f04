"""The two modes that predict in this process: the embedded model, and the browser's ONNX file run here.

Every mode answers :meth:`answer` with one complete model row and gives a
``status()`` for the page; see ``api_mode``, ``stream_mode`` and
``offline_mode`` for the other three.
"""

from __future__ import annotations

import threading

import numpy as np

from mldeploy.errors import ConfigError, Issue, PredictionError, SchemaError
from mldeploy.examples.careers.answer import Answer

__all__ = ["BrowserMode", "EmbeddedMode", "onnx_feeds"]


class EmbeddedMode:
    """The pipeline as a library in the site's own process (what the wheel from `mldeploy embed` gives)."""

    name = "embedded"

    def __init__(self, model, source: str = "in this process"):
        self.model = model
        self.source = source

    @classmethod
    def from_wheel(cls, module_name: str) -> "EmbeddedMode":
        """Import the model wheel's module (``pip install`` it first) and predict with the model it carries."""
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"cannot import the model wheel's module {module_name} ({exc}); build it with "
                              "`mldeploy embed` and pip install the wheel") from exc
        if not callable(getattr(module, "model", None)):
            raise ConfigError(f"{module_name} is not a model wheel from `mldeploy embed` (it has no model())")
        return cls(module.model(), f"in this process, from the wheel's module {module_name} ({module.REF})")

    def answer(self, row: dict) -> Answer:
        pred = self.model.infer(row)
        return Answer(float(pred.values[0]), pred.ref.name, pred.ref.version, self.model.bundle.manifest.metrics)

    def status(self) -> dict:
        return {"detail": f"{self.source}, on the {self.model.explain_plan().path} path"}

    def close(self) -> None:
        pass


class BrowserMode:
    """The ONNX file the page downloads, run here by onnxruntime so the JSON interface answers as the page does."""

    name = "browser"

    def __init__(self, model):
        from mldeploy._extras import require

        self.model = model
        self.onnx = model.export_onnx()  # verified against scikit-learn before it is served
        ort = require("onnxruntime")
        self._session = ort.InferenceSession(self.onnx, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def answer(self, row: dict) -> Answer:
        with self._lock:
            prediction, refused = self._session.run(["prediction", "refused"], onnx_feeds(self.model.bundle.schema, row))
        if bool(np.asarray(refused).ravel()[0]):
            raise PredictionError(f"the ONNX model refused the row {row}; the pipeline cannot score it")
        ref = self.model.ref
        return Answer(float(np.asarray(prediction).ravel()[0]), ref.name, ref.version, self.model.bundle.manifest.metrics)

    def status(self) -> dict:
        return {"detail": f"in the visitor's browser (onnxruntime-web, WASM); model file {len(self.onnx) / 1024:,.0f} KiB"}

    def close(self) -> None:
        pass


def onnx_feeds(schema, row: dict) -> dict:
    """Return the exported model's inputs for one row, as the page builds them: text as string, the rest as double.

    Missing numbers are NaN and missing text is "" (the export's convention);
    a value the schema refuses raises SchemaError, as the page's check does.
    """
    feeds = {}
    for field in schema.fields:
        value = row.get(field.name)
        if field.type in ("category", "string"):
            feeds[field.name] = np.array([["" if value is None else value]], dtype=object)
        elif value is None:
            feeds[field.name] = np.array([[np.nan]])
        elif isinstance(value, (bool, int, float)):
            feeds[field.name] = np.array([[float(value)]])
        else:
            raise SchemaError([Issue(None, field.name, field.expected(), repr(value))])
    return feeds
