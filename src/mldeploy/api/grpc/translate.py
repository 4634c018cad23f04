"""Open Inference Protocol gRPC messages <-> the data plane's requests and predictions. Pure: no I/O.

Every check that REST makes is the same function here (:mod:`mldeploy.api.protocol`):
datatypes, shapes, raw byte lengths, BYTES layout, one tensor per name, equal
row counts, the outputs a request may ask for. What is gRPC's own is where the
values sit: ``raw_input_contents`` (one entry per input, the layout of the
binary extension) or typed ``contents`` (one repeated field per datatype family).

Outputs come back raw (``raw_output_contents``, what tritonclient reads) when
the request sent raw inputs or asks for binary data (``binary_data_output`` on
the request, ``binary_data`` on an output); otherwise typed.

mldeploy's own parameters: ``extra`` on the request (``reject`` or ``ignore``
unknown fields, as ``/predict?extra=``), ``json_elements`` on a BYTES input
(each element one JSON value: how the client sends a column that mixes kinds),
and on the response ``path`` and, for a classifier, ``classes`` (JSON text).
"""

from __future__ import annotations

import struct

import numpy as np
import orjson

from mldeploy.api import protocol
from mldeploy.api.config import ApiConfig
from mldeploy.api.errors import MalformedRequestError
from mldeploy.api.grpc import messages
from mldeploy.api.protocol import InferRequest
from mldeploy.api.tensors import RequestedOutput, selected_outputs, to_binary
from mldeploy.errors import NotFoundError
from mldeploy.serving import Prediction

__all__ = ["CONTENTS_FIELD", "decode_infer_request", "encode_infer_response", "extra_of", "parameter", "version_of"]

CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
"""Datatype -> the InferTensorContents field that carries it (FP16 has none: raw contents only)."""


def version_of(name: str, text: str) -> int | None:
    """Read a request's model_version: empty is the version serving now; else a whole number (NotFoundError)."""
    if not text:
        return None
    if not text.isdigit():
        raise NotFoundError(f'no version {text!r} of "{name}": versions are whole numbers from 1')
    return int(text)


def parameter(parameters, key: str, default=None):
    """Return the value of one InferParameter in a parameters map, whichever kind it holds."""
    if key not in parameters:
        return default
    value = parameters[key]
    kind = value.WhichOneof("parameter_choice")
    return getattr(value, kind) if kind else default


def extra_of(message) -> str:
    """Read the request's ``extra`` parameter: what to do with fields the model does not know."""
    extra = parameter(message.parameters, "extra", "reject")
    if extra not in ("reject", "ignore"):
        raise MalformedRequestError(f"the parameter extra must be reject or ignore, got {extra!r}")
    return extra


def decode_infer_request(message, max_depth: int = ApiConfig.max_json_depth) -> InferRequest:
    """Decode a ModelInferRequest into the request the data plane predicts for.

    ``max_depth``: the deepest a BYTES element that holds JSON may nest (as for REST's bodies).

    Also takes the server's :func:`~mldeploy.api.grpc.messages.infer_request_frames`, whose input
    tensors are still encoded: a description seen before is recognised by its bytes, not read again.
    """
    inputs, raw = message.inputs, message.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise MalformedRequestError(f"raw_input_contents has {len(raw)} entries for {len(inputs)} inputs; "
                                    "give one per input, in the order of inputs")
    framed = bool(inputs) and isinstance(inputs[0], bytes)
    if raw:
        tensors = [_raw_column(_layout_of(tensor) if framed else _raw_layout(tensor), contents, max_depth)
                   for tensor, contents in zip(inputs, raw)]
    else:
        tensors = [_decode_typed(_tensor_class().FromString(tensor) if framed else tensor, max_depth) for tensor in inputs]
    binary = bool(raw) or bool(parameter(message.parameters, "binary_data_output", False))
    return protocol.assemble_request(message.id or None, tensors, _requested_outputs(message, binary), binary)


RawLayout = tuple[str, str, int, bool, "struct.Struct | None"]
"""What a tensor sent with raw contents says of them: (name, datatype, rows, whether its BYTES elements are JSON,
the layout of its one value when it holds a single fixed-width value, the usual single-row call)."""
_LAYOUTS: dict[bytes, RawLayout] = {}
_LAYOUTS_KEPT = 1024  # distinct descriptions remembered: clients send the same few, call after call
_LAYOUT_MAX_BYTES = 1024  # a longer description (a long name, many parameters) is read each time


def _layout_of(frame: bytes) -> RawLayout:
    """Check an encoded tensor description once; afterwards its bytes alone say it passed."""
    layout = _LAYOUTS.get(frame)
    if layout is None:
        layout = _raw_layout(_tensor_class().FromString(frame))
        if len(frame) <= _LAYOUT_MAX_BYTES:
            if len(_LAYOUTS) >= _LAYOUTS_KEPT:
                _LAYOUTS.clear()
            _LAYOUTS[frame] = layout
    return layout


def _raw_layout(tensor) -> RawLayout:
    """Check a tensor sent with raw contents (the hot path: tritonclient, our client) and return its layout."""
    name, datatype = tensor.name, tensor.datatype
    protocol.check_datatype(name, datatype)
    shape = tensor.shape
    count = shape[0] if len(shape) == 1 and shape[0] >= 0 else protocol.rows_of(name, list(shape))
    if tensor.HasField("contents"):
        given = ", ".join(field.name for field, _ in tensor.contents.ListFields())
        raise MalformedRequestError(f'input "{name}" has typed contents ({given}) and raw_input_contents; '
                                    "send one or the other for every input")
    is_json = datatype == "BYTES" and bool(parameter(tensor.parameters, protocol.JSON_ELEMENTS, False))
    return name, datatype, count, is_json, protocol.ONE_VALUE.get(datatype) if count == 1 else None


def _raw_column(layout: RawLayout, raw: bytes, max_depth: int) -> tuple[str, list | np.ndarray]:
    name, datatype, count, is_json, single = layout
    if single is not None and len(raw) == single.size:  # else raw_column words what is wrong with the length
        return name, list(single.unpack(raw))
    if is_json:
        return name, protocol.json_column(name, protocol.split_bytes(name, raw, count), count, max_depth)
    return name, protocol.raw_column(name, datatype, raw, count)


def _tensor_class():
    return messages.message("ModelInferRequest.InferInputTensor")


def _decode_typed(tensor, max_depth: int) -> tuple[str, list]:
    name, datatype = tensor.name, tensor.datatype
    protocol.check_datatype(name, datatype)
    shape = tensor.shape
    count = shape[0] if len(shape) == 1 and shape[0] >= 0 else protocol.rows_of(name, list(shape))
    is_json = datatype == "BYTES" and bool(parameter(tensor.parameters, protocol.JSON_ELEMENTS, False))
    return name, _typed_column(tensor, name, datatype, count, is_json, max_depth)


def _typed_column(tensor, name: str, datatype: str, count: int, is_json: bool, max_depth: int) -> list:
    expected = CONTENTS_FIELD.get(datatype)
    if expected is None:
        raise MalformedRequestError(f'input "{name}": {datatype} travels only as raw_input_contents')
    given = [field.name for field, _ in tensor.contents.ListFields()]
    if any(field != expected for field in given):
        raise MalformedRequestError(f'input "{name}": a {datatype} tensor carries its values in contents.{expected}, '
                                    f'not in {", ".join(given)}')
    values = getattr(tensor.contents, expected)
    if is_json:
        return protocol.json_column(name, values, count, max_depth)
    if datatype == "BYTES":
        return protocol.text_column(name, values, count)
    if len(values) != count:
        raise MalformedRequestError(f'input "{name}": shape declares {count} value(s) but contents.{expected} holds {len(values)}')
    return list(values)


def _requested_outputs(message, binary: bool) -> tuple[RequestedOutput, ...] | None:
    if not message.outputs:
        return None
    return tuple(RequestedOutput(output.name, bool(parameter(output.parameters, "binary_data", binary)))
                 for output in message.outputs)


def encode_infer_response(pred: Prediction, request: InferRequest, response):
    """Fill ``response`` (an empty ModelInferResponse) with the prediction, as the request asked; return it."""
    response.model_name = pred.ref.name
    response.model_version = str(pred.ref.version)
    if request.id is not None:
        response.id = request.id
    response.parameters["path"].string_param = str(pred.path)
    if pred.classes is not None:  # the V2 outputs carry labels and probabilities, not which column is which class
        response.parameters["classes"].string_param = orjson.dumps(list(pred.classes), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    selected = selected_outputs(pred, request.outputs, request.binary_output)
    raw = any(output.binary for output, _, _ in selected)  # raw for one output means raw for all (the protocol's rule)
    for output, datatype, values in selected:
        tensor = response.outputs.add(name=output.name, datatype=datatype, shape=values.shape)
        if raw:
            response.raw_output_contents.append(to_binary(datatype, values))
        elif datatype == "BYTES":
            tensor.contents.bytes_contents.extend(str(value).encode() for value in values.ravel())
        else:
            getattr(tensor.contents, CONTENTS_FIELD[datatype]).extend(values.ravel().tolist())
    return response
