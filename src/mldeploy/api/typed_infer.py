"""The usual V2 JSON inference request, read and checked in one pass in C (msgspec), or left to the full path.

A V2 JSON body spells each feature as a tensor object (name, datatype, shape,
data); read as Python dicts and checked field by field, one row of eleven
features cost 8.7 µs, seven times the plain ``/predict`` body. Here msgspec
decodes the body straight into typed tensors, one kind per datatype, so the
datatype, the shape and every value's type are checked while it reads: about
4 µs for the whole request.

Only the plain case is taken, exactly as :mod:`mldeploy.api.protocol` would
read it: no ``parameters`` on a tensor (binary data), no key it does not know,
no escape in the text, numbers in the 64-bit range, no empty text. For
anything else :func:`read_plain` returns None and the full path reads the body
again and words its error, so both paths answer alike. msgspec is part of the
``api`` extra; without it every request takes the full path.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal, NamedTuple, Optional, Union

from mldeploy._extras import optional
from mldeploy.api.tensors import FIXED

__all__ = ["PlainRequest", "read_plain"]

_INT64 = dict(ge=-(2**63), le=2**63 - 1)  # orjson reads some longer integers as floats: leave those to the full path


class PlainRequest(NamedTuple):
    """What a plain body holds: the id, one column per input (all of one length), the outputs and parameters as sent."""

    id: str | None
    columns: dict[str, list]
    rows: int
    outputs: list | None
    parameters: dict | None


def read_plain(body: bytes) -> PlainRequest | None:
    """Decode a plain V2 JSON body; None when msgspec is missing or the body is anything but plain."""
    decoders = _decoders()
    if decoders is None or b"\\" in body:  # an escape may hide a lone surrogate, which the full path refuses
        return None
    one_row, many_rows, errors = decoders
    try:
        request = one_row.decode(body)
    except errors:
        return _read_many_rows(many_rows, errors, body)
    columns = {tensor.name: tensor.data for tensor in request.inputs}
    if len(columns) != len(request.inputs):  # a name given twice: the full path says which
        return None
    return PlainRequest(request.id, columns, 1, request.outputs, request.parameters)


def _read_many_rows(decoder, errors, body: bytes) -> PlainRequest | None:
    try:
        request = decoder.decode(body)
    except errors:
        return None
    inputs = request.inputs
    rows = len(inputs[0].data)
    columns = {tensor.name: tensor.data for tensor in inputs}
    if len(columns) != len(inputs) or any(tensor.shape != [rows] or len(tensor.data) != rows for tensor in inputs):
        return None
    return PlainRequest(request.id, columns, rows, request.outputs, request.parameters)


@functools.cache
def _decoders():
    msgspec = optional("msgspec")
    if msgspec is None:
        return None
    # RecursionError: to find a tensor's datatype given after other keys, msgspec skips their values
    # recursively; one nested too deep must go to the full path, which refuses it by depth, not become a 500.
    return (msgspec.json.Decoder(_request_type(msgspec, one_row=True)),
            msgspec.json.Decoder(_request_type(msgspec, one_row=False)),
            (msgspec.DecodeError, RecursionError))


def _request_type(msgspec, one_row: bool):
    """The body's type: a tagged union of tensors on ``datatype``; one row: shape exactly [1] and one value."""
    integer = Annotated[int, msgspec.Meta(**_INT64)]
    one = msgspec.Meta(min_length=1, max_length=1)
    values = {"BOOL": Optional[bool], "BYTES": Optional[Annotated[str, msgspec.Meta(min_length=1)]],
              **{datatype: Optional[integer] if "INT" in datatype else Union[integer, float, None] for datatype in FIXED
                 if datatype != "BOOL"}}
    tensors = tuple(
        msgspec.defstruct(f"{'One' if one_row else 'Many'}{datatype}Tensor",
                          [("name", str), ("shape", Annotated[list[Literal[1]], one] if one_row else list[int]),
                           ("data", Annotated[list[kind], one] if one_row else list[kind])],
                          tag_field="datatype", tag=datatype, forbid_unknown_fields=True)
        for datatype, kind in values.items())
    # Parameters of flat values, and outputs of flat values or such parameters: nothing nests deeper, so
    # no depth check is needed before reading (one nesting further is not plain, and goes to the full path).
    flat = dict[str, Union[bool, int, float, str, None]]
    return msgspec.defstruct("OneRowRequest" if one_row else "Request",
                             [("inputs", Annotated[list[Union[tensors]], msgspec.Meta(min_length=1)]),
                              ("id", Optional[str], None), ("outputs", Optional[list[dict[str, Union[str, flat]]]], None),
                              ("parameters", Optional[flat], None)],
                             forbid_unknown_fields=True)
