"""The API's one answer table: exception class -> HTTP status, looked up along the MRO.

The core knows no HTTP; this edge decides. Request problems that only HTTP
has (a malformed body, a wrong content type, a missing token) are raised as
the :class:`RequestError` subclasses below, so every answer comes from the
same table and the same JSON shape ``{"error": "...", "type": "..."}``
(plus ``"issues"`` for a SchemaError).
"""

from __future__ import annotations

from mldeploy import errors as core

__all__ = [
    "MalformedRequestError",
    "PayloadTooLargeError",
    "RequestError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "error_body",
    "status_for",
]


class RequestError(core.MldeployError):
    """An HTTP request the API cannot read (its body, headers or credentials)."""


class MalformedRequestError(RequestError):
    """Malformed JSON or tensors: a shape, datatype or byte length that does not match what it declares."""


class UnsupportedMediaTypeError(RequestError):
    """A body in a content type or encoding the endpoint does not read."""


class PayloadTooLargeError(RequestError):
    """A body larger than the configured limit."""


class UnauthorizedError(RequestError):
    """A request without the server's bearer token."""


STATUS: dict[type[BaseException], int] = {
    # The user's input: 4xx, never 500.
    core.SchemaError: 422,
    core.NotFoundError: 404,
    core.BadReferenceError: 404,  # a model path segment that cannot name any model
    core.ConfigError: 400,
    core.UnsupportedError: 400,
    MalformedRequestError: 400,
    UnsupportedMediaTypeError: 415,
    PayloadTooLargeError: 413,
    UnauthorizedError: 401,
    RequestError: 400,
    core.AliasConflictError: 409,
    # The server's state or its neighbours: retry later or elsewhere.
    core.NotReadyError: 503,
    core.RegistryError: 503,
    core.BackendError: 503,
    # The server's own failures.
    core.BundleError: 500,
    core.UntrustedTypesError: 500,
    core.VersionMismatchError: 500,
    core.PredictionError: 500,
    core.MissingExtraError: 500,
    core.MldeployError: 500,
}


def status_for(exc: BaseException) -> int:
    """Return the HTTP status for ``exc``: the entry of the nearest class in its MRO (500 if none)."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


def error_body(exc: BaseException) -> dict:
    """Return the JSON answer for ``exc``: its message and class, and every issue of a SchemaError."""
    body = {"error": str(exc), "type": type(exc).__name__}
    if isinstance(exc, core.SchemaError):
        body["issues"] = [issue.to_dict() for issue in exc.issues]
    return body
