"""The careers site as a Starlette app: the page, its JSON interface, and the files the browser mode downloads.

Routes::

    GET  /                          the page (static/index.html)
    GET  /api/form                  the form's fields, labels and choices, the fixed inputs, the modes
    POST /api/estimate?mode=MODE    the form's fields as a JSON object -> {"estimate", "low", "high",
                                    "model_name", "model_version", "mode"}; bad input -> 422
                                    {"error", "issues": [{"field", "message"}]}
    GET  /api/status?mode=MODE      what answers in that mode (offline: rows and when; stream: swaps)
    GET  /model/model.onnx          the pipeline as one exact ONNX model (browser mode)
    GET  /model/schema.json         the bundle's schema, beside it (the page validates with it)
    GET  /vendor/ort/FILE           onnxruntime-web, from the npm package scripts/careers_js.sh installs
"""

from __future__ import annotations

import json
from pathlib import Path

from mldeploy._extras import require
from mldeploy.errors import BackendError, ConfigError, MldeployError, NotFoundError, SchemaError, answer_for
from mldeploy.examples.careers.site import MODE_TITLES, MODES, CareersSite

__all__ = ["create_app", "ORT_FILES"]

STATIC = Path(__file__).parent / "static"
# All the page needs of onnxruntime-web: the WASM-only build, its loader and the binary (single-threaded).
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
_MAX_BODY_BYTES = 16 * 1024
# Scripts and styles from this site only, WebAssembly allowed, no frames: the page can reach nothing else.
_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_MEDIA = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
          ".html": "text/html; charset=utf-8"}


_STATUS = {ConfigError: 400, NotFoundError: 404, BackendError: 503}
"""HTTP status of the errors the site answers in words (a SchemaError is a 422 with its issues)."""


def create_app(site: CareersSite):
    """Return the ASGI app over ``site``; the site is closed when the app shuts down."""
    require("starlette")
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    def error(status: int, message: str, issues=()) -> JSONResponse:
        return JSONResponse({"error": message, "issues": list(issues)}, status, headers=_HEADERS)

    def answer_error(exc: MldeployError) -> JSONResponse:
        if isinstance(exc, SchemaError):
            issues = [{"field": i.field, "message": f"expected {i.expected}, got {i.got}"} for i in exc.issues]
            return error(422, str(exc), issues)
        return error(answer_for(exc, _STATUS, 500), str(exc))

    def static(name: str, folder: Path = STATIC) -> Response:
        path = folder / name
        return FileResponse(path, media_type=_MEDIA.get(path.suffix), headers=_HEADERS)

    async def page(request: Request) -> Response:
        return static("index.html")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("site.js", "site.css"):
            return error(404, f"no file {name}")
        return static(name)

    async def form(request: Request) -> Response:
        manifest = site.bundle.manifest
        body = {**site.form.to_dict(), "mode": site.config.mode,
                "modes": [{"name": m, "title": MODE_TITLES[m]} for m in MODES],
                "model": {"name": manifest.name, "version": manifest.version}}
        return JSONResponse(body, headers=_HEADERS)

    async def estimate(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():  # read no further than the limit, whatever the client claims
            body += chunk
            if len(body) > _MAX_BODY_BYTES:
                return error(413, f"the request body is over {_MAX_BODY_BYTES:,} bytes; the form sends far less")
        try:
            fields = json.loads(bytes(body) or b"null")
        except ValueError as exc:
            return error(422, f"the request body is not valid JSON ({exc})",
                         [{"field": "(body)", "message": "expected a JSON object with the form's fields"}])
        try:
            answer = await run_in_threadpool(site.estimate, fields, request.query_params.get("mode", site.config.mode))
        except MldeployError as exc:
            return answer_error(exc)
        return JSONResponse(answer.to_dict(), headers=_HEADERS)

    async def status(request: Request) -> Response:
        name = request.query_params.get("mode", site.config.mode)
        try:
            answering = await run_in_threadpool(site.mode, name)
            return JSONResponse({"mode": name, "title": MODE_TITLES[name], **answering.status()}, headers=_HEADERS)
        except MldeployError as exc:
            return answer_error(exc)

    async def model_file(request: Request) -> Response:
        try:
            browser = await run_in_threadpool(site.mode, "browser")
        except MldeployError as exc:
            return answer_error(exc)
        if request.path_params["name"] == "model.onnx":
            return Response(browser.onnx, media_type="application/octet-stream", headers=_HEADERS)
        if request.path_params["name"] == "schema.json":
            return JSONResponse({**site.bundle.schema.to_dict(), "model": {"name": site.bundle.manifest.name,
                                 "version": site.bundle.manifest.version, "metrics": site.bundle.manifest.metrics}},
                                headers=_HEADERS)
        return error(404, f"no model file {request.path_params['name']}; there are model.onnx and schema.json")

    async def vendor(request: Request) -> Response:
        name = request.path_params["name"]
        js_dir = site.config.js_dir
        if name not in ORT_FILES:
            return error(404, f"no file {name}")
        if js_dir is None or not (Path(js_dir) / name).is_file():
            return error(503, f"onnxruntime-web is not installed ({name} missing in {js_dir}); run scripts/careers_js.sh "
                              "and start the site with --js-dir")
        return static(name, Path(js_dir))

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            await run_in_threadpool(site.close)

    routes = [
        Route("/", page), Route("/static/{name}", asset), Route("/api/form", form),
        Route("/api/estimate", estimate, methods=["POST"]), Route("/api/status", status),
        Route("/model/{name}", model_file), Route("/vendor/ort/{name}", vendor),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
