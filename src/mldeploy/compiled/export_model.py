"""The model part of the standalone export: the same TreeEnsemble node, or linear features and coefficients.

Tree thresholds are already on base values, so the runtime's TreeEnsemble node
is reused as it is and stays bit-exact. Linear models need every feature's
chain, evaluated here with ONNX arithmetic; ``log1p`` and ``expm1`` (absent
from ONNX) use the standard accurate rewrites, within a few ulps of numpy.
"""

from __future__ import annotations

import numpy as np

from mldeploy._extras import require
from mldeploy.compiled.export_graph import GraphBuilder

__all__ = ["linear_scores", "tree_scores"]

_DOUBLE, _FLOAT = 11, 1  # onnx.TensorProto.DOUBLE, FLOAT


def tree_scores(builder: GraphBuilder, model_bytes: bytes, features: str) -> str:
    """Append the runtime graph's nodes reading ``features`` [N, bases]; return raw scores [N, targets]."""
    onnx = require("onnx")
    raw = builder.fresh("raw")
    renamed = {"X": features, "raw": raw}
    for node in onnx.load_from_string(model_bytes).graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for field in (copy.input, copy.output):
            names = [renamed.setdefault(name, builder.fresh(name)) for name in field]
            del field[:]
            field.extend(names)
        builder.nodes.append(copy)
    return raw


def linear_scores(builder: GraphBuilder, compiled, values: list[str]) -> tuple[str, str]:
    """Return (raw scores [N, targets], NaN-reached-the-model flag [N, 1]) of a linear pipeline."""
    columns = []
    for feature, base in zip(compiled._features, compiled._base_of):
        column = values[base]
        if feature.category is not None:
            hit = builder.op("Equal", [column, builder.const(np.float64(feature.category))], "onehot")
            column = builder.op("Cast", [hit], "onehot", to=_DOUBLE)
        for op in feature.chain:
            column = _chain_step(builder, op, column)
        columns.append(column)
    matrix = builder.op("Concat", columns, "features", axis=1)
    nan = builder.op("Cast", [builder.op("IsNaN", [matrix])], to=_DOUBLE)
    has_nan = builder.op("ReduceMax", [nan, builder.const(np.asarray([1], dtype=np.int64))], keepdims=1)
    refused = builder.op("Greater", [has_nan, builder.const(np.float64(0.0))], "nan_reaches_model")
    product = builder.op("MatMul", [matrix, builder.const(compiled._linear.coef.T.copy(), "coef")])
    return builder.op("Add", [product, builder.const(compiled._linear.intercept, "intercept")], "raw"), refused


def _chain_step(builder: GraphBuilder, op: tuple, value: str) -> str:
    name = op[0]
    if name == "fill":
        return builder.where(builder.op("IsNaN", [value]), float(op[1]), value)
    if name in _ARITHMETIC:
        return builder.op(_ARITHMETIC[name], [value, builder.const(np.float64(op[1]))])
    if name == "f32":
        return builder.op("Cast", [builder.op("Cast", [value], to=_FLOAT)], to=_DOUBLE)
    if name == "func" and op[1] in _FUNCTIONS:
        return _FUNCTIONS[op[1]](builder, value)
    raise ValueError(f"cannot export the step {op!r} of a linear model's feature exactly; "
                     "use a tree model or a FunctionTransformer with log, log1p, sqrt, exp or expm1")


def _log1p(builder: GraphBuilder, x: str) -> str:
    # log1p(x) = log(u) * x / (u - 1) with u = 1 + x, and x itself where u rounds to 1 (Goldberg).
    u = builder.op("Add", [x, builder.const(np.float64(1.0))])
    d = builder.op("Sub", [u, builder.const(np.float64(1.0))])
    ratio = builder.op("Div", [builder.op("Mul", [builder.op("Log", [u]), x]), d])
    return builder.where(builder.op("Equal", [d, builder.const(np.float64(0.0))]), x, ratio)


def _expm1(builder: GraphBuilder, x: str) -> str:
    # expm1(x) = (u - 1) * x / log(u) with u = exp(x); x where u rounds to 1, u - 1 where log(u) is extreme.
    u = builder.op("Exp", [x])
    d = builder.op("Sub", [u, builder.const(np.float64(1.0))])
    ratio = builder.op("Div", [builder.op("Mul", [d, x]), builder.op("Log", [u])])
    extreme = builder.op("Or", [builder.op("IsInf", [u]), builder.op("Equal", [d, builder.const(np.float64(-1.0))])])
    ratio = builder.where(extreme, d, ratio)
    return builder.where(builder.op("Equal", [u, builder.const(np.float64(1.0))]), x, ratio)


def _unary(op_type: str):
    return lambda builder, x: builder.op(op_type, [x])


_ARITHMETIC = {"sub": "Sub", "div": "Div", "mul": "Mul", "add": "Add"}
_FUNCTIONS = {"log1p": _log1p, "expm1": _expm1, "log": _unary("Log"), "sqrt": _unary("Sqrt"), "exp": _unary("Exp")}
