"""Export a compiled pipeline as one standalone ONNX model: raw columns in, predictions out.

For a browser (onnxruntime-web), a phone or any ONNX runtime; the careers
website feeds it from JavaScript. The graph is the row encoder as ONNX
operators (``export_encoder``) in front of the runtime's own TreeEnsemble node
or linear coefficients (``export_model``), then the model's finishing step.

Inputs, one per pipeline column, each shaped [N, 1]:

- number and boolean columns: ``double``; a missing value is NaN; booleans are 0.0 / 1.0.
- category (text) columns: ``string``; a missing value is the empty string ``""``,
  which reaches the pipeline as the missing value training had (None or NaN, see
  ``text_null``). A string training never saw is an unseen category.

Outputs (tensors, no ZipMap):

- regressors: ``prediction`` double [N];
- classifiers: ``label`` [N] (string, int64, double or bool, as the classes) and
  ``probabilities`` double [N, n_classes] in the order of ``classes``;
- always: ``refused`` bool [N].

A graph cannot raise: where ``pipeline.predict`` would refuse a row (an infinite
number, a category the pipeline rejects, a value that turns NaN or infinite
before a step that refuses it, e.g. the log of a negative number), ``refused``
is true, ``prediction`` and ``probabilities`` are NaN and ``label`` means
nothing. The bundle schema's own checks (ranges, unseen-category policy) are
not in the graph; validate before calling it. All of this is also written into
the model's ``doc_string`` and ``metadata_props``.

Tree models are bit-identical to scikit-learn when the runtime sums trees in
order (onnxruntime with ``intra_op_num_threads=1``, the ONNX reference
evaluator); with more threads onnxruntime may sum big batches in another order,
a difference of about 1e-15 relative. Example::

    data = export_onnx(compiled)
    session = onnxruntime.InferenceSession(data)
    session.run(None, {"age": np.array([[31.0]]), "city": np.array([["boston"]], dtype=object), ...})
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.compiled.export_encoder import MISSING_TEXT, encode_inputs, text_null_of
from mldeploy.compiled.export_graph import GraphBuilder
from mldeploy.compiled.export_model import linear_scores, tree_scores
from mldeploy.compiled.graph import serialize

__all__ = ["EXPORT_FORMAT", "export_onnx", "onnx_inputs"]

EXPORT_FORMAT = 1
_OUTPUTS = ("prediction", "label", "probabilities", "refused")
_DOUBLE, _INT64, _STRING, _BOOL = 11, 7, 8, 9  # onnx.TensorProto codes


def export_onnx(compiled, text_null: dict[str, str] | None = None) -> bytes:
    """Return a standalone ONNX model of the whole pipeline (see the module docstring for its contract).

    ``text_null`` maps a text column to "none" or "nan": how training represented a
    missing value there (the bundle schema's ``Field.text_null``). Columns not given
    are inferred: "none" where None is a trained category, else "nan".
    Raises ValueError when a column is named like an output or "" is a trained category.
    """
    kinds = compiled.spec["column_kinds"]
    columns = compiled.columns
    clash = sorted(set(columns) & set(_OUTPUTS))
    if clash:
        raise ValueError(f"cannot export: input column {clash[0]!r} has the name of an output; rename it")
    nulls = {**text_null_of(compiled.encoder, [c for c in columns if kinds[c] == "category"]), **(text_null or {})}
    builder = GraphBuilder()
    values, refused = encode_inputs(builder, compiled.encoder, {c: c for c in columns}, nulls)
    if compiled.spec["kind"] == "trees":
        raw = tree_scores(builder, compiled.model_bytes, builder.op("Concat", values, "bases", axis=1))
    else:
        raw, nan_reaches_model = linear_scores(builder, compiled, values)
        refused = builder.op("Or", [refused, nan_reaches_model])
    refused = builder.op("Reshape", [refused, builder.const(np.asarray([-1], dtype=np.int64))], output="refused")
    outputs = _finish(builder, compiled, raw, refused)
    return _model(builder, compiled, outputs, nulls)


def onnx_inputs(frame, column_kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """Return the exported model's inputs for the rows of a DataFrame, following its missing-value conventions.

    ``column_kinds`` is ``compiled.spec["column_kinds"]`` (or the ``kind`` of each ``mldeploy.inputs`` item).
    """
    feeds = {}
    for column, kind in column_kinds.items():
        values = frame[column].to_numpy(dtype=object)
        if kind == "category":
            text = [MISSING_TEXT if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
            feeds[column] = np.asarray(text, dtype=object).reshape(-1, 1)
        else:
            numbers = [np.nan if v is None or v is pd.NA else float(v) for v in values]
            feeds[column] = np.asarray(numbers, dtype=np.float64).reshape(-1, 1)
    return feeds


def _finish(builder: GraphBuilder, compiled, raw: str, refused: str) -> list:
    """Append the post step; return [(output name, element type, shape)]."""
    post, n_estimators = compiled.spec["post"], float(compiled.spec["n_estimators"])
    if post in ("sum", "mean"):
        score = builder.op("Div", [raw, builder.const(np.float64(n_estimators))]) if post == "mean" else raw
        score = builder.op("Reshape", [score, builder.const(np.asarray([-1], dtype=np.int64))])
        builder.where(refused, np.nan, score, output="prediction")
        return [("prediction", _DOUBLE, ["N"]), ("refused", _BOOL, ["N"])]
    if post == "proba_mean":
        proba = builder.op("Div", [raw, builder.const(np.float64(n_estimators))], "proba")
        index = builder.op("ArgMax", [proba], axis=1, keepdims=0)
    elif post == "softmax":
        proba = builder.op("Softmax", [raw], "proba", axis=1)
        index = builder.op("ArgMax", [raw], axis=1, keepdims=0)
    else:  # one logit: hgb_binary, logistic (> 0) and gb_binary (>= 0), as scikit-learn decides
        positive = builder.op("Sigmoid", [raw])
        negative = builder.op("Sub", [builder.const(np.float64(1.0)), positive])
        proba = builder.op("Concat", [negative, positive], "proba", axis=1)
        compare = "GreaterOrEqual" if post == "gb_binary" else "Greater"
        chosen = builder.op(compare, [raw, builder.const(np.float64(0.0))])
        flat = builder.const(np.asarray([-1], dtype=np.int64))
        index = builder.op("Reshape", [builder.op("Cast", [chosen], to=_INT64), flat])
    column = builder.op("Unsqueeze", [refused, builder.const(np.asarray([1], dtype=np.int64))])
    builder.where(column, np.nan, proba, output="probabilities")
    classes = _label_array(compiled.classes_)
    builder.op("Gather", [builder.const(classes, "classes"), index], output="label", axis=0)
    n_classes = len(classes)
    return [("label", _element_type(classes), ["N"]), ("probabilities", _DOUBLE, ["N", n_classes]),
            ("refused", _BOOL, ["N"])]


def _model(builder: GraphBuilder, compiled, outputs: list, nulls: dict) -> bytes:
    onnx = require("onnx")
    helper = onnx.helper
    inputs = _inputs(compiled, nulls)
    graph = helper.make_graph(
        builder.nodes, "mldeploy_pipeline",
        [helper.make_tensor_value_info(item["name"], _STRING if item["type"] == "string" else _DOUBLE, ["N", 1])
         for item in inputs],
        [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in outputs],
        builder.initializers,
    )
    metadata = {
        "mldeploy.export_format": str(EXPORT_FORMAT),
        "mldeploy.inputs": json.dumps(inputs),
        "mldeploy.outputs": json.dumps([{"name": n, "shape": s} for n, _, s in outputs]),
        "mldeploy.missing_text": MISSING_TEXT,
        "mldeploy.missing_number": "NaN",
        "mldeploy.refused": "refused[i] is true where pipeline.predict would raise; then prediction and "
                            "probabilities are NaN and label means nothing",
        "mldeploy.plan": json.dumps(compiled.spec.get("plan", [])),
    }
    if compiled.classes_ is not None:
        metadata["mldeploy.classes"] = json.dumps(_label_array(compiled.classes_).tolist())
    return serialize(graph, doc_string=_DOC, metadata=metadata)


def _inputs(compiled, nulls: dict) -> list[dict]:
    out = []
    for column in compiled.columns:
        kind = compiled.spec["column_kinds"][column]
        if kind == "category":
            out.append({"name": column, "type": "string", "kind": kind, "missing": MISSING_TEXT,
                        "text_null": nulls[column]})
        else:
            out.append({"name": column, "type": "double", "kind": kind, "missing": "NaN"})
    return out


def _label_array(classes) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.dtype.kind in "OUS":
        return np.asarray([str(c) for c in classes], dtype=object)
    if classes.dtype.kind in "iu":
        return classes.astype(np.int64)
    return classes.astype(np.float64) if classes.dtype.kind == "f" else classes


def _element_type(classes: np.ndarray) -> int:
    return {"O": _STRING, "i": _INT64, "f": _DOUBLE, "b": _BOOL}[classes.dtype.kind]


_DOC = (
    "mldeploy whole-pipeline model. Inputs: one per column, shape [N, 1]; numbers and booleans as double "
    "(booleans 0/1, missing = NaN); categories as string (missing = empty string \"\", unseen strings are "
    "unseen categories). Outputs: prediction double [N] (regressors) or label [N] and probabilities double "
    "[N, n_classes] (classifiers), and refused bool [N]: true where scikit-learn would refuse the row "
    "(infinite number, rejected category, NaN or infinity before a step that refuses it); those rows get "
    "NaN. Schema checks (ranges, unseen-category policy) are not part of the graph. "
    "Details in metadata_props (mldeploy.*)."
)
