"""The OpenAPI document and the docs page, written from each served model's real schema.

Each model gets its own paths (``/predict/salary``, ``/v2/models/salary/infer``)
whose request body lists its fields with their types, ranges, categories and
whether they may be null, plus an example row from the bundle's training sample.
The document states what the server enforces: a field that may be empty is not
required (a missing key of such a field counts as empty, as JSON clients often
leave nulls out), and fields the model does not know are refused unless the
request says ``?extra=ignore``. ``/docs`` shows it in Swagger UI, served from the
installed package (:mod:`mldeploy.api.swagger`), so a user can try a request.
"""

from __future__ import annotations

import html
import math

import orjson

from mldeploy.api import swagger, tensors
from mldeploy.bundle import Field
from mldeploy.serving import Model

__all__ = ["docs_page", "example_row", "openapi_document"]

_ERRORS = {
    "400": "Malformed JSON or tensors: a shape, datatype or byte length that does not match its declaration",
    "401": "The bearer token is missing or wrong (when the server was started with --token)",
    "404": "No such model, or no such version of it",
    "413": "The body is larger than the server's --max-body-bytes",
    "415": "The content type is not application/json (or, for V2 inference, application/octet-stream)",
    "422": "Rows that do not match the model's schema: `issues` lists the bad fields of the bad rows (the first 1,000, or what the server's `--max-issues` says; `issues_total` counts them all)",
    "503": "The model is still loading, or its version has not passed its checks yet",
}
_MAY_BE_LEFT_OUT = ("may be null or left out: a missing key of a field that may be empty counts as empty "
                    "(JSON clients often leave nulls out)")
_JSON = "application/json"


def example_row(model: Model) -> dict:
    """Return the first training-sample row of a model as JSON-ready values (NaN as null)."""
    row = model.bundle.sample().iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v.item() if hasattr(v, "item") else v)
            for k, v in row.items()}


def field_schema(f: Field) -> dict:
    """JSON Schema of one input field: type, range or categories (every one), null if allowed, and why."""
    kinds = {"number": "number", "integer": "integer", "boolean": "boolean"}
    schema: dict = {"type": kinds.get(f.type, "string"), "description": _field_description(f)}
    if f.minimum is not None:
        schema["minimum"] = f.minimum
    if f.maximum is not None:
        schema["maximum"] = f.maximum
    if f.type == "category" and f.categories is not None:
        if f.unseen == "reject":
            schema["enum"] = list(f.categories) + ([None] if f.nullable else [])
        else:  # any text is accepted (treated as unseen): the known values are examples, not a limit
            schema["examples"] = list(f.categories)
    if f.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _field_description(f: Field) -> str:
    return f"expected {_expected(f)}" + (f"; {_MAY_BE_LEFT_OUT}" if f.nullable else "; required")


def _expected(f: Field) -> str:
    """What a field takes, every category included (error messages shorten the list; documentation does not)."""
    if f.type == "category" and f.categories is not None:
        known = ", ".join(map(str, f.categories))
        return f"one of: {known}" if f.unseen == "reject" else f"text; known values: {known}; any other text is accepted as one training never saw"
    return f.expected()


def openapi_document(models: dict[str, Model | None], version: str, secured: bool, server_url: str | None = None) -> dict:
    """Return the OpenAPI 3.1 document; ``models`` maps each served name to its current model (None: loading).

    ``server_url`` is the address the caller reached (``http://127.0.0.1:8080``): "try it out" sends requests there.
    """
    paths = {**_health_paths(), "/metrics": _metrics_path()}
    schemas = {"Error": _error_schema(), "InferenceRequest": _infer_request_schema(),
               "InferenceResponse": _infer_response_schema()}
    for name, model in models.items():
        if model is None:
            continue
        schemas[f"{name}_record"] = _record_schema(model)
        paths[f"/predict/{name}"] = _predict_path(name, model)
        paths.update(_v2_model_paths(name, model))
    document = {"openapi": "3.1.0",
                "info": {"title": "mldeploy model API", "version": version,
                         "description": "Open Inference Protocol (KServe V2) and plain JSON predictions of whole pipelines."},
                "paths": paths, "components": {"schemas": schemas}}
    if server_url:
        document["servers"] = [{"url": server_url, "description": "this server"}]
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def _record_schema(model: Model) -> dict:
    fields = model.schema.fields
    return {"type": "object", "properties": {f.name: field_schema(f) for f in fields},
            "required": [f.name for f in fields if not f.nullable], "additionalProperties": False,
            "description": f"One record. Fields that may be empty are not required: {_MAY_BE_LEFT_OUT.split(': ', 1)[1]}. "
                           "Fields the model does not know are refused unless the request says ?extra=ignore.",
            "example": example_row(model)}


def _errors(*codes: str) -> dict:
    return {code: {"description": text, "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code, text in _ERRORS.items() if not codes or code in codes}


def _predict_path(name: str, model: Model) -> dict:
    record = {"$ref": f"#/components/schemas/{name}_record"}
    return {"post": {
        "summary": f"Predict with {name} (version {model.ref.version} now): one record or a list of records",
        "operationId": f"predict_{name}",
        "parameters": [{"name": "extra", "in": "query", "required": False,
                        "description": "reject (the default) refuses fields the model does not know; ignore leaves them out",
                        "schema": {"type": "string", "enum": ["reject", "ignore"], "default": "reject"}}],
        "requestBody": {"required": True, "content": {_JSON: {
            "schema": {"oneOf": [record, {"type": "array", "items": record}]},
            "example": example_row(model)}}},
        "responses": {"200": {"description": "One prediction per record, and the version that made them",
                              "content": {_JSON: {"schema": _predict_response_schema()}}}, **_errors()}}}


def _predict_response_schema() -> dict:
    return {"type": "object", "required": ["model_name", "model_version", "predictions"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "integer"}, "path": {"type": "string"},
        "predictions": {"type": "array"}, "classes": {"type": "array"},
        "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}


def _v2_model_paths(name: str, model: Model) -> dict:
    metadata = tensors.model_metadata(name, [model.ref.version], model.schema)
    infer = {"post": {
        "summary": f"V2 inference with {name}: one tensor per input " + ", ".join(i["name"] for i in metadata["inputs"]),
        "requestBody": {"required": True, "content": {_JSON: {
            "schema": {"$ref": "#/components/schemas/InferenceRequest"}, "example": _infer_example(model)}}},
        "responses": {"200": {"description": "The output tensors (prediction, or label and probabilities), "
                                             "the model's version and the request's id", "content": {_JSON: {
            "schema": {"$ref": "#/components/schemas/InferenceResponse"}}}}, **_errors()}}}
    get = {"get": {"summary": f"Metadata of {name}", "responses": {
        "200": {"description": "The model's name, versions, platform, and one typed input per field and its outputs",
                "content": {_JSON: {"example": metadata}}},
        **_errors("401", "404")}}}
    ready = {"get": {"summary": f"Whether {name} is ready", "responses": {
        "200": {"description": "The model has loaded and passed its smoke prediction: it answers requests"},
        "503": {"description": "The model is still loading or checking its version"}, **_errors("404")}}}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    versioned = {path: {method: {**op, "parameters": [version]} for method, op in item.items()}
                 for path, item in {"": get, "/ready": ready, "/infer": infer}.items()}
    base = f"/v2/models/{name}"
    return {base: get, f"{base}/ready": ready, f"{base}/infer": infer,
            **{f"{base}/versions/{{version}}{path}": item for path, item in versioned.items()}}


def _infer_example(model: Model) -> dict:
    row = example_row(model)
    return {"id": "1", "inputs": [{"name": f.name, "datatype": tensors.tensor_datatype(f), "shape": [1],
                                   "data": [row[f.name]]} for f in model.schema.fields]}


def _tensor_schema() -> dict:
    return {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array"},
        "parameters": {"type": "object"}}}


def _infer_request_schema() -> dict:
    return {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "parameters": {"type": "object"},
        "inputs": {"type": "array", "minItems": 1, "items": _tensor_schema()},  # the server refuses none with a 4xx
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": {"type": "object"}}}}}}


def _infer_response_schema() -> dict:
    return {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "outputs": {"type": "array", "items": _tensor_schema()}, "parameters": {"type": "object"}}}


def _error_schema() -> dict:
    return {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "type": {"type": "string"},
        "issues": {"type": "array", "items": {"type": "object"}},
        "issues_total": {"type": "integer", "description": "How many issues there were, when more than `issues` lists"}}}


def _health_paths() -> dict:
    def ok(summary: str, answer: str, extra: dict | None = None) -> dict:
        return {"get": {"summary": summary, "responses": {"200": {"description": answer}, **(extra or {})}}}

    return {"/v2": ok("Server metadata (name, version, extensions)", "The server's name, version and protocol extensions"),
            "/v2/health/live": ok("Whether the server process is up", "The process is up and answering"),
            "/v2/health/ready": ok("Whether every model has loaded and passed its smoke test",
                                   "Every model has loaded and passed its smoke prediction",
                                   {"503": {"description": "A model is still loading or checking its version"}})}


def _metrics_path() -> dict:
    return {"get": {"summary": "Prometheus metrics", "responses": {"200": {
        "description": "Requests, errors, latency and batch-size histograms per model and version, the version "
                       "served and swaps, in Prometheus' text format", "content": {"text/plain": {}}}}}}


def docs_page(models: dict[str, Model | None], server_url: str) -> str:
    """Return the docs page: each model's input fields with a request to this server, then Swagger UI to try them."""
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mldeploy model API</title>", swagger.swagger_head(),
             "<style>.mldeploy{font-family:sans-serif;max-width:60em;margin:2em auto}.mldeploy td,.mldeploy th"
             "{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}.mldeploy pre{background:#f4f4f4;"
             "padding:1em;overflow:auto}</style></head><body><div class='mldeploy'><h1>mldeploy model API</h1>",
             f"<p>At <code>{e(server_url)}</code>. Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
             "Open Inference Protocol at <code>/v2</code>; metrics at <a href='/metrics'>/metrics</a>. "
             "Try any request below the tables.</p>"]
    for name, model in models.items():
        parts.append(_model_section(name, model, server_url))
    parts += ["</div>", swagger.swagger_body("/openapi.json"), "</body></html>"]
    return "".join(parts)


def _model_section(name: str, model: Model | None, server_url: str) -> str:
    e = html.escape
    if model is None:
        return f"<h2>{e(name)}</h2><p>Loading: not ready yet.</p>"
    rows = "".join(f"<tr><td><code>{e(f.name)}</code></td><td>{e(f.type)}</td><td>{e(_expected(f))}</td>"
                   f"<td>{'yes' if f.nullable else 'no'}</td></tr>" for f in model.schema.fields)
    example = orjson.dumps(example_row(model), option=orjson.OPT_INDENT_2).decode()
    task = model.schema.output.task
    return (f"<h2>{e(name)}</h2><p>Version {model.ref.version}, {e(task)}. "
            f"<code>POST /predict/{e(name)}</code> takes one record or a list; "
            f"<code>POST /v2/models/{e(name)}/infer</code> one tensor per field.</p>"
            "<table><tr><th>field</th><th>type</th><th>expected</th><th>may be null or left out</th></tr>"
            f"{rows}</table><p>Example:</p><pre>curl -s {e(server_url)}/predict/{e(name)} "
            f"-H 'content-type: application/json' -d '{e(orjson.dumps(example_row(model)).decode())}'</pre>"
            f"<pre>{e(example)}</pre>")
