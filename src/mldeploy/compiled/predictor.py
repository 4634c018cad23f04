"""The compiled pipeline: a row encoder plus a tree graph or linear coefficients, saved as data.

Files (under ``compiled/`` in the directory given to :meth:`CompiledPipeline.save`):
``encoder.json`` (bases, model description, plan), ``model.onnx`` (trees, for export and
where no tree walker runs) and ``arrays.npz`` (coefficients, classes, the tree walker's
layout; written and read without pickle).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy._literal_parsing import PARSING_LITERALS
from mldeploy.compiled.encoder import RowEncoder
from mldeploy.compiled.features import Feature
from mldeploy.compiled.graph import make_session
from mldeploy.compiled.linear import LinearModel, feature_matrix, linear_scores
from mldeploy.compiled.walker import WALK_ARRAYS, TreeWalker, native_backend
from mldeploy.errors import MissingExtraError

__all__ = ["FORMAT", "CompiledPipeline", "feature_to_json"]

FORMAT = 1
_FOLDER = "compiled"
_ALLOWED_OPS = {"TreeEnsemble", "Concat"}
_ENGINES = {"auto", "native", "numba", "onnxruntime"}
WALKERS = ("native", "numba")
"""The engines that walk the trees (the same kernel in C or numba), best first."""


class CompiledPipeline:
    """Predict like the fitted pipeline it was compiled from, from dicts or DataFrames."""

    def __init__(self, encoder: RowEncoder, spec: dict, arrays: dict, model_bytes: bytes | None = None,
                 engine: str = "auto", *, graph_file: Path | None = None, proven: tuple[str, ...] = ()) -> None:
        """Prepare to predict; ``engine`` picks how trees run: "auto", "native", "numba" or "onnxruntime".

        "auto" walks the trees when the bundle has the walk arrays, in C built on this machine
        ("native") or else with numba, and runs the ONNX graph otherwise; all give the same bits.
        Of the walkers that run here, one in ``proven`` (the engines a bundle was verified with)
        comes first, so loading never re-verifies for want of choosing it. ``graph_file`` names where
        ``model_bytes`` were read from: their operators are checked before the graph's first use.
        """
        if engine not in _ENGINES:
            raise ValueError(f"engine: expected one of {sorted(_ENGINES)}, got {engine!r}")
        self.encoder = encoder
        self.spec = spec
        """JSON description: columns, model kind, post step, estimator count, NaN guard, plan."""
        self.arrays = arrays
        self._model_bytes = model_bytes
        self._unchecked_graph = graph_file
        self.columns: list[str] = list(spec["columns"])
        self.classes_ = arrays.get("classes")
        self._post = spec["post"]
        self.engine = _tree_engine(engine, arrays, proven) if spec["kind"] == "trees" else "linear"
        """What computes the model: "native" or "numba" (tree walker), "onnxruntime" (tree graph) or "linear"."""
        self._walker = None
        self._session = None
        if self.engine in WALKERS:
            self._walker = TreeWalker(arrays, len(encoder.bases), int(spec["n_targets"]), backend=self.engine)
        elif self.engine == "onnxruntime":
            self._session = make_session(self.model_bytes)
        if spec["kind"] == "linear":
            self._linear = LinearModel(arrays["coef"], arrays["intercept"], self._post, self.classes_)
            self._features = [_feature_from_json(item, encoder) for item in spec["features"]]
            self._base_of = [item["base"] for item in spec["features"]]

    @property
    def model_bytes(self) -> bytes | None:
        """The trees as an ONNX graph (None for a linear model), for onnxruntime and the exports.

        A graph read from a bundle has its operators checked here, at its first use, not at load:
        a pipeline whose trees are walked never parses it (importing onnx and parsing took 35 ms of each load).
        """
        if self._unchecked_graph is not None:
            _check_ops(self._model_bytes, self._unchecked_graph)
            self._unchecked_graph = None
        return self._model_bytes

    @property
    def is_classifier(self) -> bool:
        """Whether the pipeline predicts class labels."""
        return self.classes_ is not None

    def predict_records(self, rows: list[dict]) -> np.ndarray:
        """Predict rows given as dicts keyed by input column."""
        return self.finish(self.scores(self.encoder.encode_records(rows)))[0]

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Predict the rows of a DataFrame."""
        return self.finish(self.scores(self.encoder.encode_frame(frame)))[0]

    def predict_columns(self, columns: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """Predict ``rows`` rows given as columns (float64 numbers, object texts), e.g. from ``ColumnCleaner``."""
        return self.finish(self.scores(self.encoder.encode_columns(columns, rows)))[0]

    def predict_proba_records(self, rows: list[dict]) -> np.ndarray:
        """Return class probabilities for rows given as dicts."""
        return self._proba(self.scores(self.encoder.encode_records(rows)))

    def predict_proba_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Return class probabilities for the rows of a DataFrame."""
        return self._proba(self.scores(self.encoder.encode_frame(frame)))

    def predict_proba_columns(self, columns: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """Return class probabilities for ``rows`` rows given as columns."""
        return self._proba(self.scores(self.encoder.encode_columns(columns, rows)))

    def _proba(self, raw: np.ndarray) -> np.ndarray:
        if not self.is_classifier:
            raise TypeError("predict_proba needs a classifier; this pipeline is a regressor")
        return self.finish(raw)[1]

    def scores(self, bases: np.ndarray) -> np.ndarray:
        """Return the model's raw scores [rows, targets] for base values (from the encoder), before the post step."""
        if self._walker is not None:
            return self._walker.scores(bases)
        if self._session is None:
            return linear_scores(self._linear, feature_matrix(self._features, self._base_of, bases))
        return self._session.run(None, {"X": bases})[0]

    def scores_by(self, engine: str, bases: np.ndarray) -> np.ndarray:
        """Raw scores of ``bases`` computed by another tree engine, for verification to compare with :meth:`scores`.

        A walker engine reuses this pipeline's tree layout. Raises ValueError or
        MissingExtraError where ``engine`` cannot run here.
        """
        if self._walker is not None and engine in WALKERS:
            return self._walker.with_backend(engine).scores(bases)
        return CompiledPipeline(self.encoder, self.spec, self.arrays, self.model_bytes, engine).scores(bases)

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`finish` returns class probabilities (every compiled classifier does)."""
        return self._post not in ("sum", "mean")

    def finish(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Turn raw scores into (predictions, class probabilities or None), as the pipeline's last step would."""
        post = self._post
        if post == "sum":
            return raw[:, 0], None
        if post == "mean":
            return raw[:, 0] / self.spec["n_estimators"], None
        if post == "proba_mean":
            proba = raw / self.spec["n_estimators"]
            return self.classes_.take(np.argmax(proba, axis=1)), proba
        if post == "softmax":
            return self.classes_.take(np.argmax(raw, axis=1)), _scipy_special().softmax(raw, axis=1)
        positive = _scipy_special().expit(raw[:, 0])
        proba = np.stack([1 - positive, positive], axis=1)
        chosen = raw[:, 0] >= 0 if post == "gb_binary" else raw[:, 0] > 0
        return self.classes_.take(chosen.astype(np.int64)), proba

    def save(self, directory: Path) -> list[str]:
        """Write the compiled files under ``directory/compiled`` and return their relative names."""
        folder = Path(directory) / _FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        spec = {**self.spec, "format": FORMAT, "encoder": self.encoder.to_json()}
        (folder / "encoder.json").write_text(json.dumps(spec, indent=1, sort_keys=True))
        arrays = dict(self.arrays)
        if arrays.get("classes") is not None and arrays["classes"].dtype == object:
            arrays["classes"] = arrays["classes"].astype(str)
        np.savez(folder / "arrays.npz", allow_pickle=False, **{k: v for k, v in arrays.items() if v is not None})
        names = [f"{_FOLDER}/encoder.json", f"{_FOLDER}/arrays.npz"]
        if self.model_bytes is not None:
            (folder / "model.onnx").write_bytes(self.model_bytes)
            names.append(f"{_FOLDER}/model.onnx")
        return names

    @classmethod
    def load(cls, directory: Path, engine: str = "auto", read: Callable[[str], bytes] | None = None,
             proven: tuple[str, ...] = ()) -> CompiledPipeline:
        """Read files written by :meth:`save`; raise ValueError when they are not a compiled pipeline.

        ``read(name)`` returns a file's bytes by its name in the bundle (``compiled/arrays.npz``);
        a bundle passes its digest-checking reader so what is parsed is what was checked.
        ``proven`` lists the engines the bundle was verified with (see the constructor).
        """
        folder = Path(directory) / _FOLDER
        read = read or (lambda name: (Path(directory) / name).read_bytes())
        spec = json.loads(read(f"{_FOLDER}/encoder.json"))
        if not isinstance(spec, dict) or spec.get("format") != FORMAT or spec.get("kind") not in ("trees", "linear"):
            raise ValueError(f"{folder}: not a compiled pipeline of format {FORMAT}")
        with PARSING_LITERALS, np.load(io.BytesIO(read(f"{_FOLDER}/arrays.npz")), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if spec.get("classes_object") and "classes" in arrays:
            arrays["classes"] = arrays["classes"].astype(object)
        encoder = RowEncoder.from_json(spec.pop("encoder"))
        if spec["kind"] != "trees":
            return cls(encoder, spec, arrays, None, engine)
        return cls(encoder, spec, arrays, read(f"{_FOLDER}/model.onnx"), engine, graph_file=folder / "model.onnx",
                   proven=proven)


@functools.cache
def _scipy_special():
    """scipy.special, imported by the first classifier that needs it: 0.1 s that a regressor's process never pays."""
    from scipy import special

    return special


def _tree_engine(engine: str, arrays: dict, proven: tuple[str, ...]) -> str:
    """Resolve "auto": the first walker that runs here, proven ones first, else onnxruntime."""
    if engine == "onnxruntime":
        return engine
    has_layout = all(name in arrays for name in WALK_ARRAYS)
    if engine in WALKERS:
        if not has_layout:
            raise ValueError(f"engine {engine!r} needs the walk arrays, which this compiled pipeline lacks; rebuild it")
        _walker_runs(engine, required=True)
        return engine
    if has_layout:
        for walker in sorted(WALKERS, key=lambda name: name not in proven):  # stable: C before numba within each
            if _walker_runs(walker, required=False):
                return walker
    return "onnxruntime"


def _walker_runs(engine: str, required: bool) -> bool:
    """Whether the walker ``engine`` runs here; ``required`` raises the reason instead of returning False."""
    if engine == "native":
        return native_backend(required) is not None
    try:
        require("numba")
    except MissingExtraError:
        if required:
            raise
        return False
    return True


def _check_ops(model_bytes: bytes, file: Path) -> None:
    onnx = require("onnx")
    graph = onnx.load_from_string(model_bytes).graph
    unexpected = {node.op_type for node in graph.node} - _ALLOWED_OPS
    if unexpected:
        raise ValueError(f"{file}: unexpected operators {sorted(unexpected)}; rebuild the bundle")


def feature_to_json(feature: Feature, base_index: int) -> dict:
    """Describe a model feature for the linear path: its base index, chain and one-hot category."""
    return {"base": base_index, "chain": [list(op) for op in feature.chain], "category": feature.category}


def _feature_from_json(item: dict, encoder: RowEncoder) -> Feature:
    base = encoder.bases[item["base"]]
    return Feature(base, tuple(tuple(op) for op in item["chain"]), item["category"])

