"""Rows <-> ModelInfer messages for the project's own client. Pure: no I/O.

Rows go out as raw tensors, one per field, each of the narrowest datatype that
holds every value exactly: BOOL, INT64, FP64 (NaN for a missing number), BYTES
(empty for missing text). A column that mixes kinds (a bad row's "ten" among
numbers, a missing true/false) goes as BYTES elements that are each one JSON
value, so the server sees the values as sent and words the same issues as for
an embedded model or JSON over HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import orjson

from mldeploy.api import protocol, tensors
from mldeploy.api.grpc.translate import CONTENTS_FIELD
from mldeploy.bundle import BundleRef
from mldeploy.serving import Prediction, ServingPath

__all__ = ["as_records", "infer_request", "prediction_from"]


def infer_request(message, model: str, rows: list[dict], extra: str, fields: list[str]):
    """Fill ``message`` (an empty ModelInferRequest) with ``rows``; ``fields`` name the inputs when there are no rows."""
    message.model_name = model
    if extra != "reject":
        message.parameters["extra"].string_param = extra
    names = list(dict.fromkeys(name for row in rows for name in row)) if rows else fields
    for name in names:
        datatype, raw, as_json = _column([row.get(name) for row in rows])
        tensor = message.inputs.add(name=name, datatype=datatype, shape=[len(rows)])
        if as_json:
            tensor.parameters[protocol.JSON_ELEMENTS].bool_param = True
        message.raw_input_contents.append(raw)
    return message


def _column(values: list) -> tuple[str, bytes, bool]:
    """Return (datatype, raw bytes, whether the BYTES elements are JSON) for one field's values."""
    present = [v for v in values if not _is_missing(v)]
    kinds = {_kind(v) for v in present}
    missing = len(present) != len(values)
    if kinds == {"bool"} and not missing:
        return "BOOL", np.asarray(values, dtype="?").tobytes(), False
    if kinds == {"int"} and not missing and all(-2**63 <= v < 2**63 for v in values):
        return "INT64", np.asarray(values, dtype="<i8").tobytes(), False
    if kinds and kinds <= {"int", "float"}:
        return "FP64", np.asarray([math.nan if _is_missing(v) else v for v in values], dtype="<f8").tobytes(), False
    if kinds == {"str"} and "" not in present:  # an empty text would arrive as a missing one
        return "BYTES", tensors.to_binary("BYTES", np.asarray(["" if _is_missing(v) else v for v in values], dtype=object)), False
    elements = np.asarray([json.dumps(v, allow_nan=True, default=protocol.json_default) for v in values], dtype=object)
    return "BYTES", tensors.to_binary("BYTES", elements), True


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _kind(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    return "str" if isinstance(value, str) else "other"


def prediction_from(response) -> Prediction:
    """Read a ModelInferResponse (raw or typed outputs) back into the Prediction the server made."""
    parameters = response.parameters
    classes = tuple(orjson.loads(parameters["classes"].string_param)) if "classes" in parameters else None
    tensors = {tensor.name: _tensor(response, index) for index, tensor in enumerate(response.outputs)}
    if classes is None:
        values = np.asarray(tensors["prediction"], dtype="float64")
    else:
        values = np.asarray(tensors["label"], dtype=object)
        if len(values) and all(isinstance(c, (int, float)) for c in classes):
            values = values.astype(np.asarray(classes).dtype)
    proba = tensors.get("probabilities")
    path = parameters["path"].string_param if "path" in parameters else "compiled"
    ref = BundleRef(response.model_name, int(response.model_version))
    return Prediction(ref, ServingPath(path), values, None if proba is None else np.asarray(proba, dtype="float64"), classes)


def _tensor(response, index: int) -> np.ndarray:
    tensor = response.outputs[index]
    shape, datatype = tuple(tensor.shape), tensor.datatype
    if index < len(response.raw_output_contents):
        raw = response.raw_output_contents[index]
        if datatype == "BYTES":
            return np.asarray([e.decode() for e in protocol.split_bytes(tensor.name, raw, int(np.prod(shape)))], dtype=object).reshape(shape)
        return np.frombuffer(raw, dtype=tensors.FIXED[datatype]).reshape(shape)
    values = list(getattr(tensor.contents, CONTENTS_FIELD[datatype]))
    if datatype == "BYTES":
        values = [v.decode() for v in values]
    return np.asarray(values, dtype=object if datatype == "BYTES" else tensors.FIXED[datatype]).reshape(shape)


def as_records(data) -> list[dict]:
    """One dict, a list of dicts or a DataFrame -> a list of dicts."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    return [data] if isinstance(data, Mapping) else list(data)
