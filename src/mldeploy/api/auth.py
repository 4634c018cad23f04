"""Optional bearer-token auth as ASGI middleware: every path but the health checks needs the token."""

from __future__ import annotations

import hmac

import orjson

from mldeploy.api.errors import UnauthorizedError, error_body

__all__ = ["BearerTokenMiddleware", "bearer_matches", "is_health_check"]

_OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})


def is_health_check(path: str) -> bool:
    """True for the server's and each model's health checks, which load balancers call without credentials."""
    return path in _OPEN_PATHS or (path.startswith("/v2/models/") and path.endswith("/ready"))


def bearer_matches(value: str | bytes, token: str) -> bool:
    """True if an authorization value is ``Bearer <token>``, the scheme in any case (RFC 7235); the token is
    compared in constant time, so its bytes cannot be guessed by timing."""
    value = value.encode() if isinstance(value, str) else value
    scheme, _, credentials = value.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials, token.encode())


class BearerTokenMiddleware:
    """Answer 401 to any HTTP request but a health check without ``Authorization: Bearer <token>``."""

    def __init__(self, app, token: str):
        self.app = app
        self._token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_health_check(scope["path"]) or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(error_body(UnauthorizedError(
            "this server needs a bearer token: send the header 'Authorization: Bearer <token>'")))
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="mldeploy"')]})
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"authorization":
                return bearer_matches(value, self._token)
        return False
