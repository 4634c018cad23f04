"""Turn the row encoder into ONNX operators: one base value per node chain, plus a per-row refusal flag.

Each base (see ``features``) becomes the same value :class:`RowEncoder` computes:
numbers are imputed with Where/IsNaN and set to NaN below a function's domain;
text becomes a category index through ``ai.onnx.ml`` LabelEncoder (-1 for
unseen); ordinal codes are gathered from the encoder's table. A graph cannot
raise, so every row the encoder would refuse (an infinite number, an unseen
category the pipeline rejects, a value that becomes NaN or infinite before a
step that refuses it) sets the row's ``refused`` flag instead.

A missing text value is the empty string ``""``. It reaches the pipeline as
the missing value training had in that column (``text_null``: "none" for
None, "nan" for NaN), as the bundle schema's ``text_null`` does.
"""

from __future__ import annotations

import math

import numpy as np

from mldeploy.compiled.export_graph import GraphBuilder
from mldeploy.compiled.features import CodeBase, MissingBase, NumBase, OneHotBase, OrdinalBase

__all__ = ["MISSING_TEXT", "encode_inputs", "text_null_of"]

MISSING_TEXT = ""


def text_null_of(encoder, text_columns: list[str]) -> dict[str, str]:
    """Guess how training represented a missing text value, per column: "none" when None is a category."""
    with_none = {base.column for base in encoder.bases
                 if isinstance(base, (CodeBase, OneHotBase, OrdinalBase)) and None in base.categories}
    return {column: "none" if column in with_none else "nan" for column in text_columns}


def encode_inputs(builder: GraphBuilder, encoder, inputs: dict[str, str], text_null: dict[str, str]):
    """Return (names of the base values, each [N, 1] double; name of the refused flag [N, 1] bool)."""
    values, refused = [], []
    for base in encoder.bases:
        value, bad = _base(builder, base, inputs[base.column], text_null.get(base.column, "nan"))
        values.append(value)
        refused += bad
    for column in encoder.number_columns:
        refused.append(builder.op("IsInf", [inputs[column]], "infinite"))
    for index, (low, high, nan_ok) in sorted(encoder.guards.items()):
        refused.append(_outside(builder, values[index], low, high, nan_ok))
    if not refused:  # always false, but shaped [N, 1] like the rest
        refused.append(builder.op("Less", [values[0], builder.const(np.float64(-math.inf))]))
    return values, builder.any_of(refused)


def _base(builder: GraphBuilder, base, value: str, text_null: str) -> tuple[str, list[str]]:
    if isinstance(base, NumBase):
        return _number(builder, base, value), []
    if isinstance(base, MissingBase):
        if base.numeric:
            return builder.op("Cast", [builder.op("IsNaN", [value])], "missing", to=_DOUBLE), []
        flag = 1 if text_null == "nan" else 0  # the indicator counts NaN only, never None
        return builder.op("Cast", [builder.label_encoder(value, [MISSING_TEXT], [flag], 0)], "missing", to=_DOUBLE), []
    keys, codes = _text_codes(base, text_null)
    key = ("code", value, tuple(keys), tuple(codes))
    code = builder.cached(key, lambda: builder.label_encoder(value, keys, codes, -1))
    strict = base.unknown is None if isinstance(base, OrdinalBase) else base.strict
    bad = [builder.op("Less", [code, builder.const(np.int64(0))], "unknown")] if strict else []
    if isinstance(base, OneHotBase):
        hit = builder.op("Equal", [code, builder.const(np.int64(base.category))], "onehot")
        return builder.op("Cast", [hit], "onehot", to=_DOUBLE), bad
    if isinstance(base, CodeBase):
        return builder.op("Cast", [code], "code", to=_DOUBLE), bad
    unknown = math.nan if base.unknown is None else base.unknown
    table = builder.const(np.asarray([unknown, *base.values], dtype=np.float64), "ordinal")
    shifted = builder.op("Add", [code, builder.const(np.int64(1))])
    return builder.op("Gather", [table, shifted], "ordinal", axis=0), bad


def _number(builder: GraphBuilder, base: NumBase, value: str) -> str:
    if base.fill is not None:
        value = builder.where(builder.op("IsNaN", [value]), base.fill, value)
    if base.lo is not None:
        below = builder.op("Less", [value, builder.const(np.float64(base.lo))], "outside_domain")
        value = builder.where(below, math.nan, value)
    return value


def _text_codes(base, text_null: str) -> tuple[list[str], list[int]]:
    """Return LabelEncoder keys and codes reproducing the encoder's lookup, "" standing for missing."""
    index = {category: i for i, category in enumerate(base.categories)}
    if MISSING_TEXT in index:
        raise ValueError(f'column "{base.column}": "" is a trained category, so it cannot stand for a missing '
                         "value in the exported model; recode it before training")
    keys = [category for category in base.categories if category is not None]
    codes = [index[category] for category in keys]
    if text_null == "none":
        missing = index.get(None, -1)
    else:  # NaN: the imputer's fill, if any, else never a category
        missing = index.get(base.fill, -1) if base.fill is not None else -1
    return keys + [MISSING_TEXT], codes + [missing]


def _outside(builder: GraphBuilder, value: str, low: float, high: float, nan_ok: bool) -> str:
    inside = builder.op("And", [
        builder.op("GreaterOrEqual", [value, builder.const(np.float64(low))]),
        builder.op("LessOrEqual", [value, builder.const(np.float64(high))]),
    ])
    refused = builder.op("Not", [inside], "refused")
    if nan_ok:
        refused = builder.op("And", [refused, builder.op("Not", [builder.op("IsNaN", [value])])])
    return refused


_DOUBLE = 11  # onnx.TensorProto.DOUBLE, without importing onnx at module import
