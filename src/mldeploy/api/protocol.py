"""Open Inference Protocol (KServe V2) REST with the binary tensor data extension: wire <-> core values.

Pure translation, no I/O: the app hands in body bytes and headers, gets back
columns for the serving core, and turns a :class:`Prediction` into a body.
Anything that does not match what it declares (shape, datatype, byte length)
is a :class:`MalformedRequestError` (HTTP 400) naming the tensor; values that
are well-formed but wrong for the model are left to the core's SchemaError.

Example request (JSON, one row)::

    {"id": "42", "inputs": [{"name": "age", "datatype": "INT64", "shape": [1], "data": [29]}, ...],
     "outputs": [{"name": "prediction"}]}
"""

from __future__ import annotations

import json
import struct
from typing import NamedTuple

import numpy as np
import orjson

from mldeploy._json_depth import nests_deeper_than
from mldeploy.api.config import ApiConfig
from mldeploy.api.errors import MalformedRequestError
from mldeploy.api.tensors import FIXED, LENGTH, RequestedOutput, selected_outputs, to_binary
from mldeploy.api.typed_infer import read_plain
from mldeploy.serving import Prediction, codecs

__all__ = [
    "HEADER_LENGTH",
    "JSON_ELEMENTS",
    "ONE_VALUE",
    "InferRequest",
    "assemble_request",
    "check_datatype",
    "encode_infer_response",
    "json_column",
    "json_default",
    "parse_infer_request",
    "parse_records",
    "raw_column",
    "rows_of",
    "split_bytes",
    "text_column",
]

HEADER_LENGTH = "inference-header-content-length"
"""The binary extension's header: how many leading body bytes are the JSON part."""

_JSON_KINDS = {"BOOL": (bool,), "BYTES": (str,), **{k: (int,) for k in FIXED if "INT" in k}}
_PLAIN_TYPES = {datatype: frozenset(_JSON_KINDS.get(datatype, (int, float))) for datatype in (*FIXED, "BYTES")}
"""The exact types a tensor's JSON values may have, null aside: what the fast path of a usual tensor accepts."""
_FEW_ROWS = 16
_STRUCT_CODES = {"BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B", "UINT16": "H",
                 "UINT32": "I", "UINT64": "Q", "FP16": "e", "FP32": "f", "FP64": "d"}
ONE_VALUE = {datatype: struct.Struct(f"<{code}") for datatype, code in _STRUCT_CODES.items()}
"""Each fixed datatype's layout of a single value: one row, the most frequent request, unpacked without a format string."""
JSON_ELEMENTS = "json_elements"
"""An input's parameter (bool): its BYTES elements are JSON values, so one column may mix kinds (a bad row's
"ten" beside numbers) and still reach the core as sent, to be refused with the same issue as everywhere."""


class InferRequest(NamedTuple):
    """A decoded V2 inference request: one column per input tensor, all of one length.

    A named tuple: one is made per request, and a frozen dataclass costs a microsecond more.
    """

    id: str | None
    columns: dict[str, list | np.ndarray]
    rows: int
    outputs: tuple[RequestedOutput, ...] | None
    """The outputs asked for, in order; None: every output."""
    binary_output: bool
    """Whether outputs not asked for by name come back as binary data."""

    def records(self) -> list[dict]:
        """Return the rows as dicts of plain Python values (for small requests that join a micro-batch)."""
        if self.rows == 1:  # the usual request: one record straight from the columns
            return [{name: values[:1].tolist()[0] if type(values) is np.ndarray else values[0]
                     for name, values in self.columns.items()}]
        names = list(self.columns)
        lists = [c.tolist() if isinstance(c, np.ndarray) else c for c in self.columns.values()]
        return [dict(zip(names, values)) for values in zip(*lists)]


def parse_infer_request(body: bytes, header_length: str | None, max_depth: int = ApiConfig.max_json_depth) -> InferRequest:
    """Decode a V2 infer body; ``header_length`` is the binary extension's header value, if sent.

    A JSON part that nests deeper than ``max_depth`` is refused before it is parsed.
    """
    if header_length is None:
        plain = read_plain(body)
        if plain is not None:
            if plain.outputs is None and plain.parameters is None:
                return InferRequest(plain.id, plain.columns, plain.rows, None, False)
            outputs = _requested_outputs({"outputs": plain.outputs, "parameters": plain.parameters})
            return InferRequest(plain.id, plain.columns, plain.rows, *outputs)
    json_part, binary = _split(body, header_length)
    request = _load_json(json_part, max_depth)
    if not isinstance(request, dict):
        raise MalformedRequestError("the inference request must be a JSON object with an \"inputs\" list")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequestError('the inference request needs an "inputs" list with one tensor per feature')
    tensors, offset = [], 0
    for position, tensor in enumerate(inputs):
        plain = _plain_tensor(tensor)
        if plain is None:
            name, values, offset = _decode_input(tensor, position, binary, offset)
            plain = name, values
        tensors.append(plain)
    if offset != len(binary):
        raise MalformedRequestError(f"{len(binary) - offset} byte(s) of binary data follow the last tensor that declares any")
    return assemble_request(_request_id(request), tensors, *_requested_outputs(request))


def assemble_request(request_id: str | None, tensors, outputs: tuple[RequestedOutput, ...] | None,
                     binary_output: bool) -> InferRequest:
    """Build a request from decoded (name, values) input tensors: each named once, all of one length."""
    columns = {}
    for name, values in tensors:
        if name in columns:
            raise MalformedRequestError(f'input "{name}" is given twice; send each feature once')
        columns[name] = values
    if not columns:
        raise MalformedRequestError('the inference request needs "inputs": one tensor per feature')
    rows = {len(values) for values in columns.values()}
    if len(rows) > 1:
        raise MalformedRequestError("every input tensor must have the same number of rows; "
                                    + ", ".join(f"{n}: {len(v)}" for n, v in columns.items()))
    return InferRequest(request_id, columns, rows.pop(), outputs, binary_output)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise MalformedRequestError(f"Inference-Header-Content-Length is {header_length!r} but the body has "
                                    f"{len(body)} bytes; it must be the length of the JSON part")
    return body[:length], body[length:]


def _load_json(data: bytes, max_depth: int):
    # Checked first, whoever parses: Python's json recurses once per level, and so would code walking the result.
    if nests_deeper_than(data, max_depth):
        raise MalformedRequestError(f"the JSON nests deeper than {max_depth} levels; send a JSON object of inputs or "
                                    "rows, or raise the server's --max-json-depth")
    try:
        return orjson.loads(data)  # refuses lone surrogates
    except orjson.JSONDecodeError as exc:
        error = exc
    try:
        # Python's json (and many clients) write Infinity and NaN, which strict JSON lacks: read them
        # so that an infinite value gets the core's own answer instead of a parse error.
        loaded = json.loads(data)
        json.dumps(loaded, ensure_ascii=False).encode()  # a lone surrogate (\\ud800) cannot be answered back
    except UnicodeEncodeError:
        raise MalformedRequestError("the body holds a lone surrogate escape (such as \\ud800), which is not text; "
                                    "send UTF-8 text") from error
    except ValueError:
        raise MalformedRequestError(f"the body is not valid JSON ({error}); send a JSON object") from error
    return loaded


def _request_id(request: dict) -> str | None:
    value = request.get("id")
    if value is None or isinstance(value, str):
        return value
    raise MalformedRequestError(f'"id" must be a string, got {type(value).__name__}')


def _requested_outputs(request: dict) -> tuple[tuple[RequestedOutput, ...] | None, bool]:
    binary = bool(_parameters(request, "request").get("binary_data_output", False))
    outputs = request.get("outputs")
    if outputs is None:
        return None, binary
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
        raise MalformedRequestError('"outputs" must be a list of objects with a "name"')
    return tuple(RequestedOutput(o["name"], bool(_parameters(o, o["name"]).get("binary_data", binary))) for o in outputs), binary


def _parameters(obj: dict, where: str) -> dict:
    parameters = obj.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise MalformedRequestError(f'"parameters" of {where} must be an object')
    return parameters


def _decode_input(tensor, position: int, binary: bytes, offset: int):
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise MalformedRequestError(f'input {position} must be an object with a "name", "datatype", "shape" and data')
    name, datatype = tensor["name"], tensor.get("datatype")
    check_datatype(name, datatype)
    count = rows_of(name, tensor.get("shape"))
    size = _parameters(tensor, f'input "{name}"').get("binary_data_size")
    if size is None:
        return name, _json_data(name, datatype, tensor.get("data"), count), offset
    if not isinstance(size, int) or size < 0 or offset + size > len(binary):
        raise MalformedRequestError(f'input "{name}": binary_data_size {size!r} runs past the {len(binary)} bytes of binary data')
    return name, raw_column(name, datatype, binary[offset:offset + size], count), offset + size


def _plain_tensor(tensor) -> tuple[str, list] | None:
    """The usual tensor, read at once: a name, a known datatype, shape [n] and n values of its own type.

    None for anything else (parameters, nested data, nulls, empty texts, any doubt): the full path
    then checks it and words the error.
    """
    if type(tensor) is not dict or "parameters" in tensor:
        return None
    name, shape, data = tensor.get("name"), tensor.get("shape"), tensor.get("data")
    types = _PLAIN_TYPES.get(tensor.get("datatype"))
    if (types is None or type(name) is not str or type(shape) is not list or len(shape) != 1 or type(data) is not list
            or type(shape[0]) is not int or len(data) != shape[0]):
        return None
    if len(data) == 1:
        if type(data[0]) not in types or data[0] == "":
            return None
    elif not all(type(value) in types for value in data) or "" in data:
        return None
    return name, data


def check_datatype(name: str, datatype) -> None:
    """Refuse a datatype the protocol does not have (MalformedRequestError naming the input)."""
    if datatype != "BYTES" and datatype not in FIXED:
        raise MalformedRequestError(f'input "{name}": datatype {datatype!r} is not one of BOOL, INT8-64, UINT8-64, FP16-64, BYTES')


def rows_of(name: str, shape) -> int:
    """Check the shape is one column ([n] or [n, 1]); return n."""
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0:  # the usual case, cheaply
        return shape[0]
    valid = isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    if not valid or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise MalformedRequestError(f'input "{name}": shape {shape!r} is not one column; use [rows] or [rows, 1]')
    return shape[0]


def _json_data(name: str, datatype: str, data, count: int) -> list:
    if not isinstance(data, list):
        raise MalformedRequestError(f'input "{name}" has no "data" list and no binary_data_size parameter')
    flat = _flatten(data) if any(isinstance(v, list) for v in data) else data
    if len(flat) != count:
        raise MalformedRequestError(f'input "{name}": shape declares {count} value(s) but "data" holds {len(flat)}')
    kinds = _JSON_KINDS.get(datatype, (int, float))
    if datatype == "BYTES":
        flat = [None if value == "" else value for value in flat]  # empty text is missing, as in binary tensors
    for index, value in enumerate(flat):
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and datatype != "BOOL")):
            raise MalformedRequestError(f'input "{name}", element {index}: {orjson.dumps(value).decode()} is not a '
                                        f"{datatype} value (null marks a missing one)")
    return flat


def _flatten(data: list) -> list:
    flat = []
    for value in data:
        if isinstance(value, list):
            flat.extend(_flatten(value))
        else:
            flat.append(value)
    return flat


def raw_column(name: str, datatype: str, raw: bytes, count: int):
    """Decode one input's raw bytes (binary extension, gRPC raw contents) into ``count`` values."""
    if datatype == "BYTES":
        return _bytes_elements(name, raw, count)
    dtype = FIXED[datatype]
    if len(raw) != count * dtype.itemsize:
        raise MalformedRequestError(f'input "{name}": {count} {datatype} value(s) need {count * dtype.itemsize} bytes, '
                                    f"the data has {len(raw)}")
    if count == 1:
        return list(ONE_VALUE[datatype].unpack(raw))
    if count <= _FEW_ROWS:  # a few rows become records at once: plain Python values cost less than an array here
        return list(struct.unpack(f"<{count}{_STRUCT_CODES[datatype]}", raw))
    return np.frombuffer(raw, dtype=dtype)


def _bytes_elements(name: str, raw: bytes, count: int) -> list | np.ndarray:
    """Decode length-prefixed UTF-8 strings (4-byte little-endian length, then the bytes): a list for a few, else an object array.

    Binary BYTES has no null: an empty element is a missing value. Repeated texts (categories) are
    decoded once; this loop is most of the cost of a large request, so it stays tight.
    """
    if count * LENGTH.size > len(raw):  # before allocating: a few bytes may declare a shape of billions
        raise MalformedRequestError(f'input "{name}": {count} BYTES element(s) need at least {count * LENGTH.size} bytes '
                                    f"(a 4-byte length each), the data has {len(raw)}")
    values = [None] * count if count <= _FEW_ROWS else np.empty(count, dtype=object)
    unpack, decoded, offset, end = LENGTH.unpack_from, {}, 0, len(raw)
    try:
        for index in range(count):
            (length,) = unpack(raw, offset)
            offset += 4
            stop = offset + length
            if stop > end:
                raise MalformedRequestError(f'input "{name}", element {index}: declares {length} bytes, {end - offset} remain')
            chunk = raw[offset:stop]
            text = decoded.get(chunk)
            if text is None:
                text = decoded[chunk] = chunk.decode() if length else None
            values[index] = text
            offset = stop
    except struct.error as exc:
        raise MalformedRequestError(f'input "{name}": the BYTES data ends before element {index} of {count}') from exc
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(f'input "{name}", element {index}: not UTF-8 text') from exc
    if offset != end:
        raise MalformedRequestError(f'input "{name}": {end - offset} byte(s) left after {count} BYTES element(s)')
    return values


def text_column(name: str, elements, count: int) -> list:
    """Decode BYTES elements given one by one (gRPC typed contents) as UTF-8; an empty one is missing."""
    if len(elements) != count:
        raise MalformedRequestError(f'input "{name}": shape declares {count} value(s) but the contents hold {len(elements)}')
    texts = []
    for index, element in enumerate(elements):
        try:
            texts.append(element.decode() if element else None)
        except UnicodeDecodeError as exc:
            raise MalformedRequestError(f'input "{name}", element {index}: not UTF-8 text') from exc
    return texts


def json_column(name: str, elements, count: int, max_depth: int = ApiConfig.max_json_depth) -> list:
    """Decode BYTES elements that each hold one JSON value (a number, text, true/false or null)."""
    if len(elements) != count:
        raise MalformedRequestError(f'input "{name}": shape declares {count} value(s) but the contents hold {len(elements)}')
    values = []
    for index, element in enumerate(elements):
        value = _load_json(element, max_depth)
        if isinstance(value, (list, dict)):
            raise MalformedRequestError(f'input "{name}", element {index}: a JSON element must be one value, not a '
                                        f"{type(value).__name__}")
        values.append(value)
    return values


def split_bytes(name: str, raw: bytes, count: int) -> list[bytes]:
    """Split raw BYTES contents into their ``count`` elements (each a 4-byte little-endian length, then the bytes)."""
    elements, offset = [], 0
    for index in range(count):
        length = int.from_bytes(raw[offset:offset + 4], "little") if offset + 4 <= len(raw) else -1
        if length < 0 or offset + 4 + length > len(raw):
            raise MalformedRequestError(f'input "{name}": the BYTES data ends inside element {index} of {count}')
        elements.append(raw[offset + 4:offset + 4 + length])
        offset += 4 + length
    if offset != len(raw):
        raise MalformedRequestError(f'input "{name}": {len(raw) - offset} byte(s) left after {count} BYTES element(s)')
    return elements


def encode_infer_response(pred: Prediction, request: InferRequest) -> tuple[bytes, int | None]:
    """Return the response body and, when any output is binary, the length of its JSON part."""
    if pred.classes is None and request.outputs is None and not request.binary_output and pred.values.ndim == 1:
        return _regression_json(pred, request.id), None
    outputs, chunks = [], []
    for output, datatype, values in selected_outputs(pred, request.outputs, request.binary_output):
        if output.binary:
            chunk = to_binary(datatype, values)
            chunks.append(chunk)
            outputs.append({"name": output.name, "datatype": datatype, "shape": list(values.shape),
                            "parameters": {"binary_data_size": len(chunk)}})
        else:
            outputs.append({"name": output.name, "datatype": datatype, "shape": list(values.shape),
                            "data": values.ravel().tolist()})
    head = {"model_name": pred.ref.name, "model_version": str(pred.ref.version), "outputs": outputs,
            "parameters": {"path": pred.path.value}}
    if request.id is not None:
        head["id"] = request.id
    header = orjson.dumps(head)
    return (header + b"".join(chunks), len(header)) if chunks else (header, None)


def _regression_json(pred: Prediction, request_id: str | None) -> bytes:
    """The usual answer, a regressor's values in JSON, laid out directly: the same bytes as the general
    path's dict (key for key, in its order) at a third of its cost."""
    values = np.asarray(pred.values, dtype="<f8")
    parts = [b'{"model_name":', orjson.dumps(pred.ref.name), b',"model_version":', orjson.dumps(str(pred.ref.version)),
             b',"outputs":[{"name":"prediction","datatype":"FP64","shape":[', str(len(values)).encode(),
             b'],"data":', orjson.dumps(values.tolist()), b'}],"parameters":{"path":', orjson.dumps(pred.path.value),
             b'}']
    if request_id is not None:
        parts += [b',"id":', orjson.dumps(request_id)]
    parts.append(b"}")
    return b"".join(parts)


def json_default(value):
    """Turn numpy and pandas values into what JSON writes (NaT and NA as null); for ``json.dumps(default=)``."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or value != value:
        return None
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def parse_records(body: bytes, max_depth: int = ApiConfig.max_json_depth,
                  max_issues: int | None = ApiConfig.max_issues) -> list[dict]:
    """Decode a plain JSON ``/predict`` body: one record or a list of records (each entry not an object is an issue,
    of which at most ``max_issues`` are listed)."""
    return codecs.records_from_json(_load_json(body, max_depth), max_issues)
