"""Open Inference Protocol tensors, whatever the wire: datatypes, the raw layout, metadata, the outputs of a prediction.

Pure, no I/O; shared by the REST translation (:mod:`mldeploy.api.protocol`) and
the gRPC one (:mod:`mldeploy.api.grpc.translate`).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np

from mldeploy.bundle import Schema
from mldeploy.bundle.schema import Field
from mldeploy.errors import UnsupportedError
from mldeploy.serving import Prediction, codecs

__all__ = ["FIXED", "LENGTH", "TENSOR_DATATYPES", "RequestedOutput", "model_metadata", "output_tensors", "selected_outputs",
           "server_metadata", "tensor_datatype", "to_binary"]

TENSOR_DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "category": "BYTES", "string": "BYTES"}
"""Open Inference Protocol datatype of each schema field type."""

FIXED = {
    "BOOL": np.dtype("?"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
"""Datatypes of a fixed width: V2 name -> little-endian numpy dtype (raw contents, binary extension)."""
LENGTH = struct.Struct("<I")
"""The length prefix of each BYTES element in raw contents."""


def tensor_datatype(field: Field) -> str:
    """Return the Open Inference Protocol datatype that carries ``field``."""
    return TENSOR_DATATYPES[field.type]


@dataclass(frozen=True)
class RequestedOutput:
    """One output a request asks for, and whether it wants it as binary data."""

    name: str
    binary: bool


def output_tensors(schema: Schema) -> list[dict]:
    """Describe the outputs a model gives: ``prediction``, or ``label`` and ``probabilities``."""
    classes = schema.output.classes
    if classes is None:
        return [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    return [{"name": "label", "datatype": _label_datatype(classes), "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]}]


def _label_datatype(classes) -> str:
    if all(isinstance(c, (bool, np.bool_)) for c in classes):
        return "BOOL"
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, (float, np.floating)) for c in classes):
        return "FP64"
    return "BYTES"


def model_metadata(name: str, versions: list[int], schema: Schema) -> dict:
    """Return the V2 model metadata: one named, typed input per feature column, and the outputs."""
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": "mldeploy_sklearn_pipeline",
        "inputs": [{"name": f.name, "datatype": tensor_datatype(f), "shape": [-1]} for f in schema.fields],
        "outputs": output_tensors(schema),
    }


def server_metadata(version: str) -> dict:
    """Return the V2 server metadata (``GET /v2``)."""
    return {"name": "mldeploy", "version": version, "extensions": ["binary_tensor_data"]}


def selected_outputs(pred: Prediction, outputs: tuple[RequestedOutput, ...] | None,
                     binary_output: bool) -> list[tuple[RequestedOutput, str, np.ndarray]]:
    """Return (requested output, datatype, values) for each output asked for (None: all, binary as ``binary_output``)."""
    columns = _output_columns(pred)
    wanted = outputs or _every_output(tuple(columns), binary_output)
    selected = []
    for output in wanted:
        if output.name not in columns:
            raise UnsupportedError(f'{pred.ref} has no output "{output.name}"; its outputs are: {", ".join(columns)}')
        selected.append((output, *columns[output.name]))
    return selected


@functools.cache
def _every_output(names: tuple[str, ...], binary: bool) -> tuple[RequestedOutput, ...]:
    return tuple(RequestedOutput(name, binary) for name in names)  # made once: most requests ask for every output


def _output_columns(pred: Prediction) -> dict[str, tuple[str, np.ndarray]]:
    if pred.classes is None:  # a regressor, the usual answer: its values as they are, without a copy
        return {"prediction": ("FP64", np.asarray(pred.values, dtype="<f8"))}
    columns = codecs.prediction_columns(pred)
    datatype = _label_datatype(pred.classes)
    labels = columns["label"]
    if datatype != "BYTES":
        labels = np.asarray(labels, dtype=np.dtype("?") if datatype == "BOOL" else FIXED[datatype])
    result = {"label": (datatype, labels)}
    if columns.get("probabilities") is not None:
        result["probabilities"] = ("FP64", np.asarray(columns["probabilities"], dtype="<f8"))
    return result


def to_binary(datatype: str, values: np.ndarray) -> bytes:
    """Lay out values as raw bytes: little-endian fixed width, or length-prefixed UTF-8 for BYTES."""
    if datatype != "BYTES":
        return np.ascontiguousarray(values, dtype=FIXED[datatype]).tobytes()
    parts = []
    for value in values.ravel():
        data = str(value).encode()
        parts.append(LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)
