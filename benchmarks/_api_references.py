"""The two reference servers bench_api.py measures the model API against, each run by uvicorn.

- ``naive``: a hand-written FastAPI endpoint: parse JSON, build a DataFrame, call ``pipeline.predict``.
- ``bare``: the HTTP ceiling: a Starlette route that parses the same JSON with orjson and answers a constant.
- ``raw``: the server's own ceiling: a plain ASGI app (no framework) that does the same, on uvicorn's httptools and uvloop.
- ``bare-grpc``: the gRPC ceiling: a grpc.aio ModelInfer that parses the request and answers a constant.

Usage: python _api_references.py naive|bare|raw|bare-grpc PORT [BUNDLE_DIR]
"""

from __future__ import annotations

import sys


def naive_app(bundle_dir: str):
    """FastAPI the way a tutorial writes it, over the same pipeline (loaded securely from the bundle)."""
    import pandas as pd
    from fastapi import FastAPI

    from mldeploy.bundle import Bundle

    pipeline = Bundle.open(bundle_dir).load_pipeline()
    app = FastAPI()

    @app.post("/predict")
    def predict(row: dict) -> dict:
        return {"prediction": float(pipeline.predict(pd.DataFrame([row]))[0])}

    return app


def bare_app():
    """The HTTP ceiling: parse the body with orjson, answer a constant."""
    import orjson
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    answer = orjson.dumps({"prediction": 1.0})

    async def predict(request):
        orjson.loads(await request.body())
        return Response(answer, media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def raw_app():
    """The ASGI ceiling: read the body, parse it with orjson, answer a constant; no routing, no framework."""
    import orjson

    answer = orjson.dumps({"prediction": 1.0})
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]}
    body = {"type": "http.response.body", "body": answer}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        orjson.loads(b"".join(chunks))
        await send(start)
        await send(body)

    return app


async def bare_grpc(port: int) -> None:
    """The gRPC ceiling on uvloop, as uvicorn runs: parse the ModelInfer request, answer a constant."""
    import grpc

    from mldeploy.api.grpc import messages

    request, response = messages.message("ModelInferRequest"), messages.message("ModelInferResponse")
    answer = response(model_name="salary", model_version="1")
    answer.outputs.add(name="prediction", datatype="FP64", shape=[1])
    answer.raw_output_contents.append(b"\0" * 8)

    async def infer(call, context):
        return answer

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(infer, request_deserializer=request.FromString,
                                                  response_serializer=response.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(messages.SERVICE, {"ModelInfer": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    import uvicorn

    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "bare-grpc":
        import asyncio

        import uvloop

        uvloop.install()
        asyncio.run(bare_grpc(port))
        return
    app = {"naive": lambda: naive_app(sys.argv[3]), "bare": bare_app, "raw": raw_app}[kind]()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off" if kind == "raw" else "auto", loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
