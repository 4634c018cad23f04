"""The two prediction endpoints as plain ASGI, ahead of the router: the hot path does no routing and builds no Request.

``POST /predict/{name}`` and ``POST /v2/models/{name}[/versions/{v}]/infer``
are matched here and answered by :class:`mldeploy.api.app.Api`; every other
request goes on to the Starlette app (docs, metadata, health, and the 405s).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mldeploy.api.body import request_headers

__all__ = ["Call", "PredictionEndpoints"]

_INFER = re.compile(r"^/v2/models/([^/]+)(?:/versions/([0-9]+))?/infer$")
_PREDICT = "/predict/"


class Call(NamedTuple):
    """One POST to a prediction endpoint: its model, version, the headers read, query string and body source.

    A named tuple: one is made per request, at half the cost of a frozen dataclass.
    """

    name: str
    version: int | None
    headers: dict[str, str]
    query: bytes
    receive: object


class PredictionEndpoints:
    """ASGI middleware that answers the prediction endpoints itself and passes everything else on."""

    def __init__(self, app, api):
        self.app = app
        self.api = api

    async def __call__(self, scope, receive, send):
        route = _route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        handler, name, version = route
        if scope["method"] != "POST":
            await _answer(send, *self.api.method_not_allowed(scope["method"], scope["path"]))
            return
        call = Call(name, version, request_headers(scope), scope["query_string"], receive)
        await _answer(send, *await getattr(self.api, handler)(call))


def _route(path: str) -> tuple[str, str, int | None] | None:
    """Return (handler name, model name, version) for a prediction path, else None."""
    if path.startswith(_PREDICT):
        name = path[len(_PREDICT):]
        return ("predict", name, None) if name and "/" not in name else None
    match = _INFER.match(path)
    if match is None:
        return None
    return "infer", match[1], int(match[2]) if match[2] is not None else None


async def _answer(send, status: int, content: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(content)).encode()), *headers]})
    await send({"type": "http.response.body", "body": content})
