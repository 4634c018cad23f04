"""The ASGI application: Open Inference Protocol REST, plain JSON predictions, docs, health and metrics.

Example::

    from mldeploy.api import ApiConfig, create_app
    app = create_app(ApiConfig(models=("salary:production",)))   # run it with any ASGI server

Every error becomes ``{"error": ..., "type": ...}`` with the status from
:mod:`mldeploy.api.errors`; bad input is always a 4xx.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from mldeploy import __version__
from mldeploy.api import protocol, swagger, tensors
from mldeploy.api.auth import BearerTokenMiddleware
from mldeploy.api.body import INFER_TYPES, JSON_TYPES, read_body
from mldeploy.api.catalog import Catalog
from mldeploy.api.config import ApiConfig
from mldeploy.api.dataplane import DataPlane
from mldeploy.api.endpoints import Call, PredictionEndpoints
from mldeploy.api.errors import MalformedRequestError, error_body, status_for
from mldeploy.api.metrics import ApiMetrics
from mldeploy.api.openapi import docs_page, openapi_document
from mldeploy.errors import MldeployError, shorten
from mldeploy.serving import codecs
from mldeploy.serving.frozen_heap import collect_young_less_often, freeze_heap
from mldeploy.serving.prediction_log import open_prediction_log

__all__ = ["create_app"]

log = logging.getLogger("mldeploy.api")
_JSON = "application/json"
_JSON_HEADERS = [(b"content-type", b"application/json")]
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""(status, body, headers) of a prediction endpoint."""


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    """Answer with ``data`` as JSON (numpy values allowed)."""
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status, headers, _JSON)


def error_response(exc: BaseException, max_issues: int = ApiConfig.max_issues) -> Response:
    """Answer with the status and JSON body the error table gives ``exc``."""
    return json_response(error_body(exc, max_issues=max_issues), status_for(exc))


class Api:
    """The REST request handlers: HTTP in and out over the shared data plane."""

    def __init__(self, plane: DataPlane):
        self.plane = plane
        self.config = plane.config
        self.metrics = plane.metrics

    # -- health and metadata --------------------------------------------------------------------

    async def server_metadata(self, request: Request) -> Response:
        return json_response(tensors.server_metadata(__version__))

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        is_ready = self.plane.is_ready
        return json_response({"ready": is_ready}, 200 if is_ready else 503)

    async def model_ready(self, request: Request) -> Response:
        name = request.path_params["name"]
        # The version serving too: what a load balancer's check, or a test after an alias move, reaches.
        is_ready, serving = await self.plane.model_ready(name, request.path_params.get("version"))
        return json_response({"name": name, "ready": is_ready, "version": serving}, 200 if is_ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        version = request.path_params.get("version")
        served = await self.plane.target(request.path_params["name"], version)
        model = served.model if version is None else (await served.pinned(version))[0]
        versions = await run_in_threadpool(served.versions)
        return json_response(tensors.model_metadata(served.name, versions, model.schema))

    # -- predictions ----------------------------------------------------------------------------

    async def infer(self, call: Call) -> Answer:
        """``POST /v2/models/{name}[/versions/{v}]/infer``: V2 tensors in and out (JSON or binary)."""
        started = time.perf_counter()
        try:
            if call.version is None:  # 404 before reading the body
                self.plane.served(call.name)
            else:
                await self.plane.target(call.name, call.version)
            body = await read_body(call.headers, call.receive, INFER_TYPES, self.config.max_body_bytes)
            decoded = protocol.parse_infer_request(body, call.headers.get(protocol.HEADER_LENGTH), self.config.max_json_depth)
            pred = await self.plane.infer(call.name, call.version, decoded)
            content, header_length = protocol.encode_infer_response(pred, decoded)
        except Exception as exc:
            return self._failed(exc, call.name, "infer", started)
        self.metrics.answered(call.name, pred.version, "infer", 200, time.perf_counter() - started)
        if header_length is None:
            return 200, content, _JSON_HEADERS
        return 200, content, [(b"content-type", b"application/octet-stream"),
                              (b"inference-header-content-length", str(header_length).encode())]

    async def predict(self, call: Call) -> Answer:
        """``POST /predict/{name}``: one record or a list of records in, predictions and the version out."""
        started = time.perf_counter()
        try:
            self.plane.served(call.name)  # 404 before reading the body
            extra = _extra(call.query)
            body = await read_body(call.headers, call.receive, JSON_TYPES, self.config.max_body_bytes)
            records = protocol.parse_records(body, self.config.max_json_depth, self.config.max_issues)
            pred = await self.plane.predict(call.name, records, extra)
            content = orjson.dumps(codecs.prediction_json(pred), option=orjson.OPT_SERIALIZE_NUMPY)
        except Exception as exc:
            return self._failed(exc, call.name, "predict", started)
        self.metrics.answered(call.name, pred.version, "predict", 200, time.perf_counter() - started)
        return 200, content, _JSON_HEADERS

    def method_not_allowed(self, method: str, path: str) -> Answer:
        """Answer 405 for another method on a prediction path."""
        body = orjson.dumps({"error": f"{method} is not allowed on {path}; use POST", "type": "HTTPException"})
        return 405, body, [*_JSON_HEADERS, (b"allow", b"POST")]

    def _failed(self, exc: Exception, name: str, endpoint: str, started: float) -> Answer:
        exc = self.plane.failed(exc, name, endpoint)
        status = status_for(exc)
        self.metrics.answered(name, None, endpoint, status, time.perf_counter() - started)
        return status, orjson.dumps(error_body(exc, max_issues=self.config.max_issues)), _JSON_HEADERS

    # -- documents ------------------------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        models = await run_in_threadpool(self._current_models)
        return json_response(openapi_document(models, __version__, self.config.token is not None, _address(request)))

    async def docs(self, request: Request) -> Response:
        models = await run_in_threadpool(self._current_models)
        return HTMLResponse(docs_page(models, _address(request)))

    async def prometheus(self, request: Request) -> Response:
        content, media_type = self.metrics.render()
        return Response(content, 200, media_type=media_type)

    def _current_models(self) -> dict:
        models = {}
        catalog = self.plane.catalog
        for name, served in (catalog.models.items() if catalog else ()):
            models[name] = served.model if served.live.is_ready else None
        return models


def _address(request: Request) -> str:
    """The address the caller reached this server at (its Host header), e.g. ``http://127.0.0.1:8080``."""
    return str(request.base_url).rstrip("/")


def _extra(query: bytes) -> str:
    if not query:
        return "reject"
    parameters = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    unknown = sorted(set(parameters) - {"extra"})
    if unknown:  # as the document says: a misspelt parameter (?extr=ignore) is refused, never silently dropped
        raise MalformedRequestError(f"unknown query parameter {shorten(unknown[0], 40)!r}; /predict takes only extra=reject or extra=ignore")
    extra = parameters.get("extra", "reject")
    if extra not in ("reject", "ignore"):
        raise MalformedRequestError(f"extra must be reject or ignore, got {extra!r}")
    return extra


def _routes(api: Api) -> list[Route]:
    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version:int}"
    return [
        Route("/v2", api.server_metadata), Route("/v2/health/live", api.live), Route("/v2/health/ready", api.ready),
        Route(model, api.model_metadata), Route(versioned, api.model_metadata),
        Route(f"{model}/ready", api.model_ready), Route(f"{versioned}/ready", api.model_ready),
        Route("/openapi.json", api.openapi), Route("/docs", api.docs), Route("/metrics", api.prometheus),
        Mount(swagger.ASSETS_PATH, app=swagger.assets_app()),
    ]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    text = {404: f"no endpoint {request.url.path}; see /docs", 405: f"{request.method} is not allowed on {request.url.path}"}
    return json_response({"error": text.get(exc.status_code, exc.detail), "type": "HTTPException"}, exc.status_code, exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The outermost catch: log the context, answer JSON, keep serving.
    log.error("unexpected failure answering %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": f"the server failed unexpectedly ({type(exc).__name__}); see its log", "type": "ServerError"}, 500)


# Fewer, larger writes than the log's default: the server's event loop keeps more of its core that way
# (logging at 79% of plain req/s against 75% with the default's 0.1 s and 2,000 rows), while the streaming
# scorer's loop, which a longer write holds up, does better with the default (81% against 72%). In between,
# each request's entry is made into COPY text within 20 ms and let go (79% -> 85% of plain; the loop's CPU
# a logged request +7.0 -> +4.2 µs over plain); the stream lost by that and does not ask for it.
_API_LOG_WRITES = dict(flush_interval_s=0.25, batch_rows=5_000, prepare_every_s=0.02)


def create_app(config: ApiConfig):
    """Build the ASGI app; models start loading when the server starts (readiness says when they are in)."""
    plane = DataPlane(config, ApiMetrics(served=(ref.name for ref in config.refs)))
    api = Api(plane)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mldeploy-predict")
        loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mldeploy-load")
        if config.log_to is not None:  # opened first: a log that cannot be opened stops the start, nothing to undo
            plane.prediction_log = await run_in_threadpool(open_prediction_log, config.log_to,
                                                           max_queued_rows=config.log_queue_rows, **_API_LOG_WRITES)
            plane.metrics.watch_log(plane.prediction_log)
        try:
            plane.catalog = await run_in_threadpool(Catalog, config, executor, loader, plane.metrics)
        except BaseException:
            if plane.prediction_log is not None:
                plane.prediction_log.close()
            raise
        grpc_server = None
        plane.metrics.watch_collector()
        try:
            if config.grpc_port is not None:  # the same process, loop, catalog and batchers as REST
                from mldeploy.api.grpc.server import start_grpc

                grpc_server = await start_grpc(plane, config)
            freeze_heap()  # what start-up imported; each model's load freezes again once it swaps in
            collect_young_less_often()
            yield
        finally:
            plane.metrics.unwatch_collector()
            if grpc_server is not None:
                await grpc_server.stop(config.graceful_timeout_s)
            for served in plane.catalog.models.values():  # shadow requests in flight are logged before the log closes
                if served.shadow is not None:
                    await served.shadow.drain()
            catalog, plane.catalog = plane.catalog, None
            catalog.close()
            executor.shutdown(wait=True)
            loader.shutdown(wait=True)
            if plane.prediction_log is not None:
                await run_in_threadpool(plane.prediction_log.close)

    async def mldeploy_error(request: Request, exc: MldeployError) -> Response:
        return error_response(exc, config.max_issues)

    app = Starlette(routes=_routes(api), lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, MldeployError: mldeploy_error,
                                        Exception: _unexpected_error})
    app = PredictionEndpoints(app, api)
    return BearerTokenMiddleware(app, config.token) if config.token else app

