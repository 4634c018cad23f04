"""The client's gRPC transport: ``Client(..., protocol="grpc")`` sends ModelInfer calls instead of JSON posts.

One channel (HTTP/2, many calls at once) per client; the token travels as
``authorization`` metadata. A failed call comes back as the class the server
raised, rebuilt from the ``mldeploy-error-bin`` trailer (every issue of a
SchemaError); a server that cannot be reached is a BackendError.
"""

from __future__ import annotations

import grpc
import orjson

from mldeploy import errors as core
from mldeploy.api.remote_errors import rebuild_error
from mldeploy.api.grpc import messages
from mldeploy.api.grpc.records import as_records, infer_request, prediction_from
from mldeploy.api.grpc.service import ERROR_METADATA
from mldeploy.serving import Prediction

__all__ = ["AsyncGrpcTransport", "GrpcTransport", "target_of"]

_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
_INFER = f"/{messages.SERVICE}/ModelInfer"
_METADATA = f"/{messages.SERVICE}/ModelMetadata"


def target_of(url: str) -> str:
    """``grpc://host:port``, ``http://host:port`` or ``host:port`` -> ``host:port``."""
    for scheme in ("grpc://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme):].rstrip("/")
    return url.rstrip("/")


class _Calls:
    """What both transports share: the messages, the metadata, and how an RPC error is read."""

    def __init__(self, url: str, model: str, token: str | None, timeout_s: float):
        self.target, self.model, self.timeout_s = target_of(url), model, timeout_s
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.infer_message = messages.message("ModelInferRequest")
        self.fields: list[str] | None = None  # the model's inputs, asked once for a request with no rows

    def stubs(self, channel):
        infer = channel.unary_unary(_INFER, request_serializer=self.infer_message.SerializeToString,
                                    response_deserializer=messages.message("ModelInferResponse").FromString)
        metadata = channel.unary_unary(_METADATA, request_serializer=messages.message("ModelMetadataRequest").SerializeToString,
                                       response_deserializer=messages.message("ModelMetadataResponse").FromString)
        return infer, metadata

    def request(self, rows: list[dict], extra: str):
        return infer_request(self.infer_message(), self.model, rows, extra, self.fields or [])

    def error(self, exc: grpc.RpcError) -> core.MldeployError:
        for key, value in exc.trailing_metadata() or ():
            if key == ERROR_METADATA:
                return rebuild_error(exc.code().name, orjson.loads(value), self.target)
        return core.BackendError(f"cannot call {self.target} over gRPC: {exc.code().name} {exc.details()}; "
                                 "is `mldeploy serve --grpc-port` running there?")


class GrpcTransport(_Calls):
    """Blocking calls over one channel."""

    def __init__(self, url: str, model: str, token: str | None, timeout_s: float):
        super().__init__(url, model, token, timeout_s)
        self._channel = grpc.insecure_channel(self.target, options=_OPTIONS)
        self._infer, self._metadata = self.stubs(self._channel)

    def infer(self, data, extra: str) -> Prediction:
        rows = as_records(data)
        try:
            if not rows and self.fields is None:
                answer = self._metadata(messages.message("ModelMetadataRequest")(name=self.model),
                                        timeout=self.timeout_s, metadata=self.metadata)
                self.fields = [tensor.name for tensor in answer.inputs]
            response = self._infer(self.request(rows, extra), timeout=self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise self.error(exc) from exc
        return prediction_from(response)

    def close(self) -> None:
        self._channel.close()


class AsyncGrpcTransport(_Calls):
    """The same over a grpc.aio channel, for asyncio apps."""

    def __init__(self, url: str, model: str, token: str | None, timeout_s: float):
        super().__init__(url, model, token, timeout_s)
        self._channel = grpc.aio.insecure_channel(self.target, options=_OPTIONS)
        self._infer, self._metadata = self.stubs(self._channel)

    async def infer(self, data, extra: str) -> Prediction:
        rows = as_records(data)
        try:
            if not rows and self.fields is None:
                answer = await self._metadata(messages.message("ModelMetadataRequest")(name=self.model),
                                              timeout=self.timeout_s, metadata=self.metadata)
                self.fields = [tensor.name for tensor in answer.inputs]
            response = await self._infer(self.request(rows, extra), timeout=self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise self.error(exc) from exc
        return prediction_from(response)

    async def aclose(self) -> None:
        await self._channel.close()
