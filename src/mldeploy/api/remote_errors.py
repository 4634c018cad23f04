"""Rebuild a server's error on the client side, the same for the REST and the gRPC client.

The server sends its error's class name and words (``api/errors.py``); the client raises
the same class, so ``except SchemaError`` works alike in process and over the network.
"""

from __future__ import annotations

from mldeploy import errors as core
from mldeploy.api import errors as api_errors

__all__ = ["rebuild_error"]

_CLASSES = {name: getattr(module, name) for module in (core, api_errors) for name in module.__all__
            if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), core.MldeployError)}


def rebuild_error(status, body, url: str) -> core.MldeployError:
    """Rebuild the server's error from its JSON body as the same class (SchemaError with every issue).

    ``status`` (an HTTP status or a gRPC code's name) only words the fallback BackendError.
    """
    message = body.get("error", "") if isinstance(body, dict) else str(body)
    kind = _CLASSES.get(body.get("type")) if isinstance(body, dict) else None
    if kind is core.SchemaError and isinstance(body.get("issues"), list):
        try:
            issues = [core.Issue(**issue) for issue in body["issues"]]
        except TypeError:  # not the issues this client knows: say what came back instead
            return core.BackendError(f"{url} answered {status} with issues this client cannot read: {core.shorten(message)}")
        hint = body.get("hint")
        total = body.get("issues_total") if type(body.get("issues_total")) is int else None
        if isinstance(hint, str) and hint:
            return core.SchemaError(issues, hint, total=total)
        return core.SchemaError(issues, total=total)
    if kind is not None and not issubclass(kind, core.SchemaError):
        try:
            return kind(message)
        except TypeError:  # a class whose constructor wants structured fields
            pass
    return core.BackendError(f"{url} answered {status}: {message}")
