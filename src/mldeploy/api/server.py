"""Run the API with uvicorn: one process or ``workers`` processes sharing one listening socket.

The socket is bound here (so ``port=0`` gets a free port we can print) and
handed to uvicorn; each worker builds its own app from the picklable
:class:`ApiConfig`. uvicorn handles SIGTERM gracefully: it stops accepting,
lets in-flight requests finish (up to ``graceful_timeout_s``), then the app's
lifespan closes the live models.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Callable
from functools import partial

from mldeploy._extras import require
from mldeploy.api.config import ApiConfig
from mldeploy.errors import ConfigError

__all__ = ["bind", "serve"]

_WORKER_PING_TIMEOUT_S = 120


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; ConfigError says why it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(config: ApiConfig, on_listening: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or Ctrl-C; ``on_listening`` gets the URL once the socket is bound."""
    uvicorn = require("uvicorn")
    from mldeploy.api.app import create_app

    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    options = dict(factory=True, workers=config.workers, log_level=config.log_level, access_log=False, lifespan="on",
                   timeout_graceful_shutdown=config.graceful_timeout_s, server_header=False)
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # A worker importing scikit-learn and loading models can miss uvicorn's 5 s ping on a busy
        # machine; the supervisor would then kill and restart it, over and over.
        options["timeout_worker_healthcheck"] = _WORKER_PING_TIMEOUT_S
    uconfig = uvicorn.Config(partial(create_app, config), **options)
    on_listening(f"http://{shown}:{port}")
    try:
        if config.workers == 1:
            uvicorn.Server(uconfig).run(sockets=[sock])
        else:
            _supervisor(uvicorn, uconfig, sock).run()
    finally:
        sock.close()


def _supervisor(uvicorn, uconfig, sock: socket.socket):
    """uvicorn's multi-process supervisor (its constructor lost ``target`` in later releases)."""
    from uvicorn.supervisors import Multiprocess

    if "target" in inspect.signature(Multiprocess.__init__).parameters:
        return Multiprocess(uconfig, target=uvicorn.Server(uconfig).run, sockets=[sock])
    return Multiprocess(uconfig, sockets=[sock])
