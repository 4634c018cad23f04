"""Run the API with uvicorn: one process or ``workers`` processes sharing one listening socket.

The socket is bound here (so ``port=0`` gets a free port we can print) and
handed to uvicorn; each worker builds its own app from the picklable
:class:`ApiConfig`. uvicorn handles SIGTERM gracefully: it stops accepting,
lets in-flight requests finish (up to ``graceful_timeout_s``), then the app's
lifespan stops the gRPC server (same grace) and closes the live models.

With ``grpc_port``, every worker's lifespan also serves gRPC on that port: the
port is reserved here first (a bound, never listening SO_REUSEPORT socket), so
``0`` becomes one free port that all workers then bind beside each other.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import signal
import socket
import threading
from collections.abc import Callable
from functools import partial

from mldeploy._extras import require
from mldeploy.api.config import ApiConfig
from mldeploy.errors import ConfigError

__all__ = ["bind", "reserve", "serve"]

_WORKER_PING_TIMEOUT_S = 120


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; ConfigError says why it cannot be."""
    sock = _bound(host, port, socket.SO_REUSEADDR, f"cannot listen on {host}:{port}", "choose another --port or --host")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def reserve(host: str, port: int) -> socket.socket:
    """Bind, without listening, a SO_REUSEPORT socket: a free port for 0, kept for the workers' gRPC servers."""
    return _bound(host, port, socket.SO_REUSEPORT, f"cannot listen for gRPC on {host}:{port}", "choose another --grpc-port")


def _bound(host: str, port: int, option: int, failure: str, remedy: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, option, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{failure}: {exc.strerror}; {remedy}") from exc
    return sock


def serve(config: ApiConfig, on_listening: Callable[[str, str | None], None] = print) -> None:
    """Serve until SIGTERM or Ctrl-C; ``on_listening`` gets the URL and the gRPC address (or None) once bound."""
    uvicorn = require("uvicorn")
    from mldeploy.api.app import create_app

    if config.grpc_port is not None:
        require("grpc")  # a missing extra is told now, not by each worker
    sock = bind(config.host, config.port)
    held = reserve(config.host, config.grpc_port) if config.grpc_port is not None else None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if held is not None:
        config = dataclasses.replace(config, grpc_port=held.getsockname()[1])
    options = dict(factory=True, workers=config.workers, log_level=config.log_level, access_log=False, lifespan="on",
                   timeout_graceful_shutdown=config.graceful_timeout_s, server_header=False)
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # A worker importing scikit-learn and loading models can miss uvicorn's 5 s ping on a busy
        # machine; the supervisor would then kill and restart it, over and over.
        options["timeout_worker_healthcheck"] = _WORKER_PING_TIMEOUT_S
    options["log_config"] = _log_config(config.log_level)
    require("httptools")
    from mldeploy.api.request_head import head_bounded_protocol

    options["http"] = head_bounded_protocol(config.max_header_bytes, config.header_timeout_s)
    uconfig = uvicorn.Config(partial(create_app, config), **options)
    on_listening(f"http://{shown}:{port}", None if held is None else f"{shown}:{config.grpc_port}")
    try:
        if config.workers == 1:
            with _sigterm_ends_cleanly():
                uvicorn.Server(uconfig).run(sockets=[sock])
        else:
            _supervisor(uvicorn, uconfig, sock).run()
    finally:
        sock.close()
        if held is not None:
            held.close()


@contextlib.contextmanager
def _sigterm_ends_cleanly():
    """Make a graceful stop on SIGTERM exit 0, as the multi-worker supervisor does.

    uvicorn's server raises the SIGTERM it handled again once it has stopped, under the handler that was
    there before; with the default one the process then dies with 143 after a clean shutdown.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # the stop is already done when it runs
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _supervisor(uvicorn, uconfig, sock: socket.socket):
    """uvicorn's multi-process supervisor (its constructor lost ``target`` in later releases)."""
    from uvicorn.supervisors import Multiprocess

    if "target" in inspect.signature(Multiprocess.__init__).parameters:
        return Multiprocess(uconfig, target=uvicorn.Server(uconfig).run, sockets=[sock])
    return Multiprocess(uconfig, sockets=[sock])


def _log_config(level: str) -> dict:
    """uvicorn's logging, applied in every worker, plus mldeploy's loggers at info (or the more verbose ``level``):
    each version loaded, swapped in or refused, and by which check, is in the server's log whatever --log-level."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    verbose = level.lower() in ("debug", "trace")
    config["loggers"]["mldeploy"] = {"handlers": ["default"], "level": "DEBUG" if verbose else "INFO", "propagate": False}
    return config
