"""The OpenAPI document and the docs page, written from each served model's real schema.

Each model gets its own paths (``/predict/salary``, ``/v2/models/salary/infer``)
whose request body lists its fields with their types, ranges, categories and
whether they may be null, plus an example row from the bundle's training sample.
"""

from __future__ import annotations

import html
import math

import orjson

from mldeploy.api import tensors
from mldeploy.bundle import Field
from mldeploy.serving import Model

__all__ = ["docs_page", "example_row", "openapi_document"]

_ERRORS = {"400": "Malformed JSON or tensors", "404": "Unknown model or version", "413": "Body too large",
           "415": "Unsupported content type", "422": "Rows that do not match the model's schema (every bad field)"}
_JSON = "application/json"


def example_row(model: Model) -> dict:
    """Return the first training-sample row of a model as JSON-ready values (NaN as null)."""
    row = model.bundle.sample().iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v.item() if hasattr(v, "item") else v)
            for k, v in row.items()}


def field_schema(f: Field) -> dict:
    """JSON Schema of one input field: type, range or categories, null if allowed."""
    kinds = {"number": "number", "integer": "integer", "boolean": "boolean"}
    schema: dict = {"type": kinds.get(f.type, "string"), "description": f"expected {f.expected()}"}
    if f.minimum is not None:
        schema["minimum"] = f.minimum
    if f.maximum is not None:
        schema["maximum"] = f.maximum
    if f.type == "category" and f.categories is not None and f.unseen == "reject":
        schema["enum"] = list(f.categories) + ([None] if f.nullable else [])
    if f.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def openapi_document(models: dict[str, Model | None], version: str, secured: bool) -> dict:
    """Return the OpenAPI 3.1 document; ``models`` maps each served name to its current model (None: loading)."""
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
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def _record_schema(model: Model) -> dict:
    fields = model.schema.fields
    return {"type": "object", "properties": {f.name: field_schema(f) for f in fields},
            "required": [f.name for f in fields], "additionalProperties": False, "example": example_row(model)}


def _errors() -> dict:
    return {code: {"description": text, "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code, text in _ERRORS.items()}


def _predict_path(name: str, model: Model) -> dict:
    record = {"$ref": f"#/components/schemas/{name}_record"}
    return {"post": {
        "summary": f"Predict with {name} (version {model.ref.version} now): one record or a list of records",
        "operationId": f"predict_{name}",
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
        "responses": {"200": {"description": "Output tensors", "content": {_JSON: {
            "schema": {"$ref": "#/components/schemas/InferenceResponse"}}}}, **_errors()}}}
    get = {"get": {"summary": f"Metadata of {name}", "responses": {
        "200": {"description": "Inputs and outputs", "content": {_JSON: {"example": metadata}}},
        "404": _errors()["404"]}}}
    ready = {"get": {"summary": f"Whether {name} is ready", "responses": {
        "200": {"description": "Ready"}, "503": {"description": "Not ready yet"}, "404": _errors()["404"]}}}
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
        "inputs": {"type": "array", "items": _tensor_schema()},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": {"type": "object"}}}}}}


def _infer_response_schema() -> dict:
    return {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "outputs": {"type": "array", "items": _tensor_schema()}, "parameters": {"type": "object"}}}


def _error_schema() -> dict:
    return {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "type": {"type": "string"},
        "issues": {"type": "array", "items": {"type": "object"}}}}


def _health_paths() -> dict:
    def ok(summary: str, extra: dict | None = None) -> dict:
        return {"get": {"summary": summary, "responses": {"200": {"description": "Yes"}, **(extra or {})}}}

    return {"/v2": ok("Server metadata (name, version, extensions)"),
            "/v2/health/live": ok("Whether the server process is up"),
            "/v2/health/ready": ok("Whether every model has loaded and passed its smoke test",
                                   {"503": {"description": "Not ready yet"}})}


def _metrics_path() -> dict:
    return {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Metrics",
                                                                           "content": {"text/plain": {}}}}}}


def docs_page(models: dict[str, Model | None]) -> str:
    """Return an HTML page listing each model's input fields, with an example request."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mldeploy model API</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .8em;"
             "text-align:left;border-bottom:1px solid #ddd}pre{background:#f4f4f4;padding:1em;overflow:auto}</style>",
             "</head><body><h1>mldeploy model API</h1>",
             "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. Open Inference Protocol at <code>/v2</code>; "
             "metrics at <a href='/metrics'>/metrics</a>.</p>"]
    for name, model in models.items():
        parts.append(_model_section(name, model))
    parts.append("</body></html>")
    return "".join(parts)


def _model_section(name: str, model: Model | None) -> str:
    e = html.escape
    if model is None:
        return f"<h2>{e(name)}</h2><p>Loading: not ready yet.</p>"
    rows = "".join(f"<tr><td><code>{e(f.name)}</code></td><td>{e(f.type)}</td><td>{e(f.expected())}</td>"
                   f"<td>{'yes' if f.nullable else 'no'}</td></tr>" for f in model.schema.fields)
    example = orjson.dumps(example_row(model), option=orjson.OPT_INDENT_2).decode()
    task = model.schema.output.task
    return (f"<h2>{e(name)}</h2><p>Version {model.ref.version}, {e(task)}. "
            f"<code>POST /predict/{e(name)}</code> takes one record or a list; "
            f"<code>POST /v2/models/{e(name)}/infer</code> one tensor per field.</p>"
            "<table><tr><th>field</th><th>type</th><th>expected</th><th>may be null</th></tr>"
            f"{rows}</table><p>Example:</p><pre>curl -s http://HOST:PORT/predict/{e(name)} "
            f"-H 'content-type: application/json' -d '{e(orjson.dumps(example_row(model)).decode())}'</pre>"
            f"<pre>{e(example)}</pre>")
