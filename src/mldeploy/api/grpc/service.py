"""``inference.GRPCInferenceService``: the six RPCs as thin translations over the shared data plane.

Errors are answered from the one table in :mod:`mldeploy.api.errors` (its gRPC
column): the status details carry the message as REST words it, and the
trailing metadata ``mldeploy-error-bin`` carries REST's JSON error body (every
issue of a SchemaError), which :class:`mldeploy.api.Client` turns back into the
same exception.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import orjson

from mldeploy import __version__
from mldeploy.api import tensors
from mldeploy.api.dataplane import DataPlane
from mldeploy.api.errors import error_body, grpc_code_for, worded_for
from mldeploy.api.grpc import messages
from mldeploy.api.grpc.translate import decode_infer_request, encode_infer_response, extra_of, version_of

__all__ = ["ERROR_METADATA", "InferenceService"]

ERROR_METADATA = "mldeploy-error-bin"
"""Trailing metadata key of a failed call: the JSON error body (``-bin``: any bytes)."""
_RPCS = {  # method -> (request, response) message names
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


class InferenceService:
    """The protocol's RPCs over one data plane (the one the REST endpoints use)."""

    def __init__(self, plane: DataPlane):
        self.plane = plane
        self._responses = {method: messages.message(response) for method, (_, response) in _RPCS.items()}

    def handler(self) -> grpc.GenericRpcHandler:
        """Return the generic handler that routes ``/inference.GRPCInferenceService/*`` to this service."""
        handlers = {}
        for method, (request, _) in _RPCS.items():
            # ModelInfer reads its input tensors' descriptions as bytes: each is checked once, then recognised
            read = messages.infer_request_frames() if method == "ModelInfer" else messages.message(request)
            handlers[method] = grpc.unary_unary_rpc_method_handler(
                getattr(self, method), request_deserializer=read.FromString,
                response_serializer=self._responses[method].SerializeToString)
        return grpc.method_handlers_generic_handler(messages.SERVICE, handlers)

    async def ServerLive(self, request, context):
        return self._responses["ServerLive"](live=True)

    async def ServerReady(self, request, context):
        return self._responses["ServerReady"](ready=self.plane.is_ready)

    async def ModelReady(self, request, context):
        started = time.perf_counter()
        try:
            is_ready, _ = await self.plane.model_ready(request.name, version_of(request.name, request.version))
        except Exception as exc:
            await self._abort(context, exc, request.name, "grpc.ModelReady", started)
        return self._responses["ModelReady"](ready=is_ready)

    async def ServerMetadata(self, request, context):
        return self._responses["ServerMetadata"](**tensors.server_metadata(__version__))

    async def ModelMetadata(self, request, context):
        started = time.perf_counter()
        try:
            version = version_of(request.name, request.version)
            served = await self.plane.target(request.name, version)
            model = served.model if version is None else (await served.pinned(version))[0]
            versions = await asyncio.to_thread(served.versions)  # reads the registry
        except Exception as exc:
            await self._abort(context, exc, request.name, "grpc.ModelMetadata", started)
        return self._responses["ModelMetadata"](**tensors.model_metadata(served.name, versions, model.schema))

    async def ModelInfer(self, request, context):
        started, name = time.perf_counter(), request.model_name
        try:
            decoded = decode_infer_request(request, self.plane.config.max_json_depth)
            # grpc.aio starts one call per turn of the loop, so a batch hardly ever forms: a call alone predicts at once
            pred = await self.plane.infer(name, version_of(name, request.model_version), decoded, extra_of(request),
                                          alone_inline=True, endpoint="grpc.infer")
            response = encode_infer_response(pred, decoded, self._responses["ModelInfer"]())
        except Exception as exc:
            await self._abort(context, exc, name, "grpc.ModelInfer", started)
        self.plane.metrics.answered(name, pred.version, "grpc.ModelInfer", "OK", time.perf_counter() - started)
        return response

    async def _abort(self, context, exc: Exception, name: str, endpoint: str, started: float) -> None:
        """End the call with the table's code for ``exc``, its message, and the JSON error body in the trailers."""
        exc = self.plane.failed(exc, name, endpoint)
        code = grpc_code_for(exc)
        self.plane.metrics.answered(name, None, endpoint, code, time.perf_counter() - started)
        await context.abort(grpc.StatusCode[code], str(worded_for(exc, "grpc")),
                            ((ERROR_METADATA, orjson.dumps(error_body(exc, "grpc", self.plane.config.max_issues))),))
