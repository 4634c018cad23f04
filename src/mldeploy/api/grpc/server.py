"""The gRPC server of one worker process: grpc.aio on the event loop uvicorn runs, started and stopped by the app's lifespan.

It serves the protocol's service, the standard health-checking service
(``grpc.health.v1``: SERVING once every model is ready) and server reflection
(so grpcurl needs no proto files). Several workers bind the same port
(SO_REUSEPORT) and the kernel spreads connections over them, as for HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from mldeploy.api.auth import bearer_matches
from mldeploy.api.config import ApiConfig
from mldeploy.api.dataplane import DataPlane
from mldeploy.api.errors import UnauthorizedError
from mldeploy.api.grpc import messages
from mldeploy.api.grpc.service import InferenceService
from mldeploy.errors import ConfigError

__all__ = ["GrpcServer", "start_grpc"]

_HEALTH = "grpc.health.v1.Health"
_OPEN_METHODS = frozenset({  # health checks, which load balancers call without credentials, and reflection,
    f"/{_HEALTH}/Check", f"/{_HEALTH}/Watch",  # which describes the published protocol and no model
    f"/{messages.SERVICE}/ServerLive", f"/{messages.SERVICE}/ServerReady", f"/{messages.SERVICE}/ModelReady",
    *(f"/{name}/ServerReflectionInfo" for name in (reflection.SERVICE_NAME, "grpc.reflection.v1.ServerReflection")),
})
_READY_CHECK_S = 0.1


class GrpcServer:
    """A started grpc.aio server and the port it listens on."""

    def __init__(self, server: grpc.aio.Server, port: int, health: HealthServicer, watcher: asyncio.Task):
        self.server, self.port, self._health, self._watcher = server, port, health, watcher

    async def stop(self, grace_s: float) -> None:
        """Say NOT_SERVING, refuse new calls, let calls in flight finish for up to ``grace_s``."""
        self._watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watcher
        await self._health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_grpc(plane: DataPlane, config: ApiConfig) -> GrpcServer:
    """Start serving gRPC on ``config.host:config.grpc_port`` (0: a free port); ConfigError if it cannot bind."""
    interceptors = [_BearerToken(config.token)] if config.token else []
    options = [("grpc.max_receive_message_length", config.max_body_bytes), ("grpc.so_reuseport", 1)]
    server = grpc.aio.server(interceptors=interceptors, options=options)
    server.add_generic_rpc_handlers((InferenceService(plane).handler(),))
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection((messages.SERVICE, _HEALTH, reflection.SERVICE_NAME), server, pool=messages.pool())
    address = f"[{config.host}]:{config.grpc_port}" if ":" in config.host else f"{config.host}:{config.grpc_port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen for gRPC on {address}: {exc}; choose another --grpc-port or --host") from exc
    await server.start()
    return GrpcServer(server, port, health, asyncio.create_task(_report_readiness(plane, health)))


async def _report_readiness(plane: DataPlane, health: HealthServicer) -> None:
    """NOT_SERVING until every model is ready, then SERVING (a live model keeps its last good version)."""
    status = health_pb2.HealthCheckResponse
    for service in ("", messages.SERVICE):
        await health.set(service, status.NOT_SERVING)
    while not plane.is_ready:
        await asyncio.sleep(_READY_CHECK_S)
    for service in ("", messages.SERVICE):
        await health.set(service, status.SERVING)


class _BearerToken(grpc.aio.ServerInterceptor):
    """Refuse any call but health checks and reflection without ``authorization: Bearer <token>`` metadata."""

    def __init__(self, token: str):
        self._token = token

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method in _OPEN_METHODS or self._authorised(details.invocation_metadata):
            return handler
        return _refusal(handler)

    def _authorised(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == "authorization":
                return bearer_matches(value, self._token)
        return False


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that answers UNAUTHENTICATED."""
    error = UnauthorizedError("this server needs a bearer token: send the metadata 'authorization: Bearer <token>'")

    async def refuse(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))

    kinds = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
             (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(refuse, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
