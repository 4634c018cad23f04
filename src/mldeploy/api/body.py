"""Read a request body straight from ASGI within the size limit, in a content type and encoding the endpoint reads."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from mldeploy.api.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

__all__ = ["INFER_TYPES", "JSON_TYPES", "read_body", "request_headers"]

JSON_TYPES = frozenset({"", "application/json"})
"""Plain JSON endpoints: JSON, or no content type at all."""
INFER_TYPES = JSON_TYPES | {"application/octet-stream"}
"""V2 infer: JSON, or JSON followed by binary tensors (the binary extension)."""
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_READ = frozenset({b"content-type", b"content-encoding", b"content-length", b"inference-header-content-length"})


def request_headers(scope) -> dict[str, str]:
    """Return the few request headers the prediction endpoints read, in one pass over the ASGI scope."""
    return {key.decode(): value.decode("latin-1") for key, value in scope["headers"] if key in _READ}


async def read_body(headers: Mapping[str, str], receive, content_types: frozenset[str], limit_bytes: int) -> bytes:
    """Return the body; 415 for another content type or encoding, 413 past ``limit_bytes`` (also once inflated)."""
    content_type = headers.get("content-type", "")
    if content_type not in content_types:  # the usual header is read as it is; anything else is normalised first
        content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type not in content_types and not content_type.endswith("+json"):
        allowed = ", ".join(sorted(t for t in content_types if t))
        raise UnsupportedMediaTypeError(f"content type {content_type!r} is not read here; send {allowed}")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", *_DECODERS):
        raise UnsupportedMediaTypeError(f"content encoding {encoding!r} is not read here; send gzip, deflate or none")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLargeError(_too_large(int(declared), limit_bytes))
    body = await _read_limited(receive, limit_bytes)
    return body if encoding == "identity" else _inflate(body, encoding, limit_bytes)


async def _read_limited(receive, limit_bytes: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedRequestError("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLargeError(_too_large(size, limit_bytes, at_least=True))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _inflate(body: bytes, encoding: str, limit_bytes: int) -> bytes:
    inflater = zlib.decompressobj(_DECODERS[encoding])
    try:
        data = inflater.decompress(body, limit_bytes + 1)
    except zlib.error as exc:
        raise MalformedRequestError(f"the body is not valid {encoding} data ({exc})") from exc
    if len(data) > limit_bytes:
        raise PayloadTooLargeError(_too_large(len(data), limit_bytes, at_least=True, inflated=True))
    if not inflater.eof:
        raise MalformedRequestError(f"the body ends before its {encoding} data does; send the whole stream")
    if inflater.unused_data:  # another gzip member, or anything: it would be ignored silently
        raise MalformedRequestError(f"the body has {len(inflater.unused_data):,} bytes after its {encoding} data; "
                                    "send one compressed stream and nothing after it")
    return data


def _too_large(size: int, limit_bytes: int, at_least: bool = False, inflated: bool = False) -> str:
    what = "inflated body" if inflated else "body"
    return (f"the {what} has {'more than ' if at_least else ''}{size:,} bytes; this server accepts at most "
            f"{limit_bytes:,} (split the rows into several requests, or start it with a larger --max-body-bytes)")
