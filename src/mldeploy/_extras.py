"""Import optional dependencies lazily, naming the extra that installs them."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from mldeploy.errors import MissingExtraError

# module name -> (extra, what it is for)
_EXTRAS = {
    "psycopg": ("postgres", "the PostgreSQL registry and prediction store"),
    "pyarrow": ("parquet", "Parquet files"),
    "onnx": ("onnx", "the compiled predictor and ONNX export"),
    "onnxruntime": ("onnx", "the compiled predictor and ONNX export"),
    "numba": ("onnx", "the tree walker where no C compiler works (see mldeploy.compiled.native)"),
    "confluent_kafka": ("kafka", "the Kafka transport of the stream adapter"),
    "pyspark": ("spark", "the Spark batch engine (--engine spark)"),
    "matplotlib": ("plot", "validation plots and drift reports (validate --plot, drift --report)"),
    "starlette": ("api", "the model API server"),
    "uvicorn": ("api", "the model API server"),
    "httptools": ("api", "the model API server's HTTP parser"),
    "orjson": ("api", "the model API server and client"),
    "prometheus_client": ("api", "the model API's metrics"),
    "openapi_ui_bundles": ("api", "the model API's interactive docs page"),
    "httpx": ("api", "the model API client"),
    "grpc": ("grpc", "the model API over gRPC (--grpc-port, protocol=\"grpc\")"),
    "grpc_health": ("grpc", "the gRPC health-checking service"),
    "grpc_reflection": ("grpc", "gRPC server reflection"),
    "google": ("grpc", "protobuf, for the model API over gRPC"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError with the pip command that fixes it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra, purpose = _EXTRAS.get(module.split(".")[0], (None, module))
        fix = f"pip install 'mldeploy[{extra}]'" if extra else f"pip install {module}"
        raise MissingExtraError(f"{module} is needed for {purpose} but is not installed; run: {fix}") from exc


@functools.cache
def optional(module: str) -> ModuleType | None:
    """Import ``module`` if it is installed, else return None: for a faster library the code can do without.

    orjson is one: the ``api`` and ``kafka`` extras bring it, and it is several times faster than ``json`` at
    what the core encodes and the stream decodes. msgspec (the ``api`` extra) reads the usual V2 JSON request.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
