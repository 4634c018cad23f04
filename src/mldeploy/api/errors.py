"""The API's one answer table: exception class -> HTTP status and gRPC status code, looked up along the MRO.

The core knows no HTTP or gRPC; this edge decides, for both transports in one
table (gRPC codes by name, so this module imports no grpc). Request problems
that only the wire has (a malformed body, a wrong content type, a missing
token) are raised as the :class:`RequestError` subclasses below, so every
answer comes from the same table and the same JSON shape
``{"error": "...", "type": "..."}`` (plus ``"issues"`` for a SchemaError).
"""

from __future__ import annotations

from typing import NamedTuple

from mldeploy import errors as core
from mldeploy.api.config import ApiConfig

__all__ = [
    "HeadTooLargeError",
    "MalformedRequestError",
    "PayloadTooLargeError",
    "RequestError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "error_body",
    "grpc_code_for",
    "status_for",
    "worded_for",
]


class RequestError(core.MldeployError):
    """An HTTP request the API cannot read (its body, headers or credentials)."""


class MalformedRequestError(RequestError):
    """Malformed JSON or tensors: a shape, datatype or byte length that does not match what it declares."""


class UnsupportedMediaTypeError(RequestError):
    """A body in a content type or encoding the endpoint does not read."""


class PayloadTooLargeError(RequestError):
    """A body larger than the configured limit."""


class HeadTooLargeError(RequestError):
    """A request line and headers larger than the configured limit (answered by the HTTP protocol, then closed)."""


class UnauthorizedError(RequestError):
    """A request without the server's bearer token."""


class Answer(NamedTuple):
    """How each transport answers one error class."""

    http: int
    grpc: str
    """A ``grpc.StatusCode`` member's name."""


STATUS: dict[type[BaseException], Answer] = {
    # The user's input: 4xx and a caller's code, never 500, UNKNOWN or INTERNAL.
    core.SchemaError: Answer(422, "INVALID_ARGUMENT"),
    core.NotFoundError: Answer(404, "NOT_FOUND"),
    core.BadReferenceError: Answer(404, "NOT_FOUND"),  # a model path segment that cannot name any model
    core.ConfigError: Answer(400, "INVALID_ARGUMENT"),
    core.UnsupportedError: Answer(400, "INVALID_ARGUMENT"),
    MalformedRequestError: Answer(400, "INVALID_ARGUMENT"),
    UnsupportedMediaTypeError: Answer(415, "INVALID_ARGUMENT"),
    PayloadTooLargeError: Answer(413, "RESOURCE_EXHAUSTED"),
    HeadTooLargeError: Answer(431, "RESOURCE_EXHAUSTED"),
    UnauthorizedError: Answer(401, "UNAUTHENTICATED"),
    RequestError: Answer(400, "INVALID_ARGUMENT"),
    core.AliasConflictError: Answer(409, "ABORTED"),
    core.RunBusyError: Answer(409, "ABORTED"),  # a batch run another process writes (the API starts none today)
    # The server's state or its neighbours: retry later or elsewhere.
    core.NotReadyError: Answer(503, "UNAVAILABLE"),
    core.RegistryError: Answer(503, "UNAVAILABLE"),
    core.BackendError: Answer(503, "UNAVAILABLE"),
    # The server's own failures.
    core.BundleError: Answer(500, "INTERNAL"),
    core.UntrustedTypesError: Answer(500, "INTERNAL"),
    core.VersionMismatchError: Answer(500, "INTERNAL"),
    core.PredictionError: Answer(500, "INTERNAL"),
    core.MissingExtraError: Answer(500, "INTERNAL"),
    core.MldeployError: Answer(500, "INTERNAL"),
}
_UNEXPECTED = Answer(500, "INTERNAL")


def _answer(exc: BaseException) -> Answer:
    return core.answer_for(exc, STATUS, _UNEXPECTED)


def status_for(exc: BaseException) -> int:
    """Return the HTTP status for ``exc``: the entry of the nearest class in its MRO (500 if none)."""
    return _answer(exc).http


def grpc_code_for(exc: BaseException) -> str:
    """Return the name of the gRPC status code for ``exc``, from the same entry (INTERNAL if none)."""
    return _answer(exc).grpc


_EXTRA_HINTS = {
    "http": "fix the values; drop unknown fields or add ?extra=ignore to the URL to leave them out",
    "grpc": 'fix the values; drop unknown fields or set the request parameter extra to "ignore" to leave them out',
}
"""The core's advice on unknown fields names a Python argument; each wire names its own way to say it."""


def worded_for(exc: BaseException, wire: str) -> BaseException:
    """Return ``exc`` with advice in the caller's terms: the query parameter over HTTP, the request parameter over gRPC."""
    if isinstance(exc, core.SchemaError) and 'extra="ignore"' in exc.hint:
        return core.SchemaError(exc.issues, hint=_EXTRA_HINTS[wire])
    return exc


def error_body(exc: BaseException, wire: str = "http", max_issues: int = ApiConfig.max_issues) -> dict:
    """Return the JSON answer for ``exc``: its message (in the wire's terms) and class, and a SchemaError's
    issues, each once, at most ``max_issues`` of them; ``issues_total`` then counts them all.

    The limit also bounds the work before the answer: the server's validator stops building issues
    at ``max_issues`` and counts the rest (``SchemaError.total``). 2.9 KB of gzip holding a million
    empty rows once made a 91 MB answer.
    """
    body = {"error": str(worded_for(exc, wire)), "type": type(exc).__name__}
    if isinstance(exc, core.SchemaError):
        issues = list(dict.fromkeys(exc.issues))
        body["issues"] = [issue.to_dict() for issue in issues[:max_issues]]
        total = exc.total if exc.total is not None else len(issues)
        if total > len(body["issues"]):
            body["issues_total"] = total
    return body
