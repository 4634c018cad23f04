"""The dedicated model API: apps call a separate server over HTTP or gRPC (Open Inference Protocol, plain JSON).

Example::

    mldeploy serve salary:production --port 8080 --grpc-port 8081   # the server
    from mldeploy.api import Client                                  # an app
    model = Client("http://127.0.0.1:8080", "salary")                # or Client("127.0.0.1:8081", "salary", protocol="grpc")
    model.predict({"years_experience": 4, ...})                      # same call and result as mldeploy.load(...)

Needs the ``api`` extra: ``pip install 'mldeploy[api]'`` (and ``mldeploy[grpc]`` for gRPC).
"""

from __future__ import annotations

import importlib

from mldeploy._extras import require

__all__ = ["ApiConfig", "AsyncClient", "Client", "create_app", "serve"]

_LAZY = {
    "ApiConfig": "mldeploy.api.config",
    "AsyncClient": "mldeploy.api.client",
    "Client": "mldeploy.api.client",
    "create_app": "mldeploy.api.app",
    "serve": "mldeploy.api.server",
}


_NEEDS = {
    "mldeploy.api.config": (),
    "mldeploy.api.client": ("httpx", "orjson"),
    "mldeploy.api.app": ("starlette", "orjson", "prometheus_client"),
    "mldeploy.api.server": ("uvicorn", "starlette", "orjson", "prometheus_client"),
}


def __getattr__(name: str):
    if name in _LAZY:
        for package in _NEEDS[_LAZY[name]]:
            require(package)  # a missing extra names the pip command that installs it
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mldeploy.api' has no attribute {name!r}")
