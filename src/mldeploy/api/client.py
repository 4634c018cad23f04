"""Call a served model over HTTP with the same calls and results as an embedded one.

Example (switching an app from embedded to remote is this one line)::

    model = mldeploy.load("salary:production")                        # embedded
    model = Client("http://127.0.0.1:8080", "salary", token=...)      # remote, same calls below
    model = Client("127.0.0.1:8081", "salary", protocol="grpc")       # remote over gRPC, same calls
    model.predict({"years_experience": 4, ...})     # one dict -> one value
    model.predict(frame)                            # DataFrame or list of dicts -> array
    model.infer(frame).version                      # Prediction naming the version that answered

Errors come back as the same classes: a SchemaError with every issue, a
NotFoundError for an unknown model; a failed connection is a BackendError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import orjson

from mldeploy import errors as core
from mldeploy._extras import require
from mldeploy.api.protocol import json_default
from mldeploy.api.remote_errors import rebuild_error
from mldeploy.bundle import BundleRef
from mldeploy.serving import Prediction, ServingPath

__all__ = ["AsyncClient", "Client"]

class _Remote:
    """What both clients share: the request they send and how they read the answer."""

    def __init__(self, url: str, model: str, token: str | None, timeout_s: float, protocol: str):
        if protocol not in ("http", "grpc"):
            raise core.ConfigError(f'protocol must be "http" or "grpc", got {protocol!r}')
        self.url = url.rstrip("/")
        self.name = BundleRef.check_name(model)
        self._headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
        self._timeout_s = timeout_s
        self.ref: BundleRef | None = None
        """The version that answered last."""

    def _request(self, data, extra: str) -> tuple[str, bytes]:
        if hasattr(data, "to_dict") and hasattr(data, "columns"):
            data = data.to_dict(orient="records")
        if isinstance(data, list):  # NaN travels as null, a missing value, so the server reads strict JSON
            data = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
                    if isinstance(row, Mapping) else row for row in data]
        path = f"{self.url}/predict/{self.name}" + ("?extra=ignore" if extra == "ignore" else "")
        # Python's json, not orjson: orjson writes an infinity as null (a missing value), json writes
        # Infinity, which the server reads, so an infinite value is refused as it is embedded.
        return path, json.dumps(data, allow_nan=True, default=json_default).encode()

    def _answer(self, status: int, content: bytes) -> Prediction:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise core.BackendError(f"{self.url} answered {status} with a body that is not JSON") from exc
        if status != 200:
            raise rebuild_error(status, body, self.url)
        return self._answered(_prediction(body))

    def _answered(self, pred: Prediction) -> Prediction:
        self.ref = pred.ref
        return pred


class Client(_Remote):
    """A model served by ``mldeploy serve``, over HTTP (keep-alive connections) or gRPC (``protocol="grpc"``)."""

    def __init__(self, url: str, model: str, token: str | None = None, timeout_s: float = 30.0, protocol: str = "http"):
        super().__init__(url, model, token, timeout_s, protocol)
        self._grpc = self._http = None
        if protocol == "grpc":
            require("grpc")
            from mldeploy.api.grpc.client import GrpcTransport

            self._grpc = GrpcTransport(url, self.name, token, timeout_s)
        else:
            self._http = require("httpx").Client(headers=self._headers, timeout=timeout_s)

    def infer(self, data, extra: str = "reject") -> Prediction:
        """Predict for one dict, a list of dicts or a DataFrame; return the Prediction (values, version, path)."""
        if self._grpc is not None:
            return self._answered(self._grpc.infer(data, extra))
        path, content = self._request(data, extra)
        httpx = require("httpx")
        try:
            response = self._http.post(path, content=content)
        except httpx.HTTPError as exc:
            raise core.BackendError(f"cannot reach {self.url}: {exc}; is `mldeploy serve` running there?") from exc
        return self._answer(response.status_code, response.content)

    def predict(self, data, extra: str = "reject"):
        """One dict -> one value; a list of dicts or a DataFrame -> an array (as :meth:`Model.predict`)."""
        return _values(self.infer(data, extra), data)

    def predict_proba(self, data, extra: str = "reject"):
        """Class probabilities of a classifier (as :meth:`Model.predict_proba`)."""
        return _probabilities(self.infer(data, extra), data)

    def close(self) -> None:
        """Close the connections."""
        (self._grpc or self._http).close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_Remote):
    """The same as :class:`Client` for asyncio apps: ``await model.predict(...)``."""

    def __init__(self, url: str, model: str, token: str | None = None, timeout_s: float = 30.0, protocol: str = "http"):
        super().__init__(url, model, token, timeout_s, protocol)
        self._grpc = self._http = None
        if protocol == "grpc":
            require("grpc")
            from mldeploy.api.grpc.client import AsyncGrpcTransport

            self._grpc = AsyncGrpcTransport(url, self.name, token, timeout_s)
        else:
            self._http = require("httpx").AsyncClient(headers=self._headers, timeout=timeout_s)

    async def infer(self, data, extra: str = "reject") -> Prediction:
        """Predict and return the Prediction (see :meth:`Client.infer`)."""
        if self._grpc is not None:
            return self._answered(await self._grpc.infer(data, extra))
        path, content = self._request(data, extra)
        httpx = require("httpx")
        try:
            response = await self._http.post(path, content=content)
        except httpx.HTTPError as exc:
            raise core.BackendError(f"cannot reach {self.url}: {exc}; is `mldeploy serve` running there?") from exc
        return self._answer(response.status_code, response.content)

    async def predict(self, data, extra: str = "reject"):
        """One dict -> one value; a list of dicts or a DataFrame -> an array."""
        return _values(await self.infer(data, extra), data)

    async def predict_proba(self, data, extra: str = "reject"):
        """Class probabilities of a classifier."""
        return _probabilities(await self.infer(data, extra), data)

    async def aclose(self) -> None:
        """Close the connections."""
        await (self._grpc.aclose() if self._grpc is not None else self._http.aclose())

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _prediction(body: dict) -> Prediction:
    classes = tuple(body["classes"]) if body.get("classes") is not None else None
    values = np.asarray(body["predictions"], dtype=object if classes is not None else "float64")
    if classes is not None and len(values) and all(isinstance(c, (int, float)) for c in classes):
        values = values.astype(np.asarray(classes).dtype)
    proba = np.asarray(body["probabilities"], dtype="float64") if body.get("probabilities") is not None else None
    ref = BundleRef(body["model_name"], int(body["model_version"]))
    return Prediction(ref, ServingPath(body.get("path", "compiled")), values, proba, classes)


def _values(pred: Prediction, data):
    if isinstance(data, Mapping):
        value = pred.values[0]
        return value.item() if isinstance(value, np.generic) else value
    return pred.values


def _probabilities(pred: Prediction, data):
    if pred.probabilities is None:
        raise core.UnsupportedError(f"{pred.ref} is not a classifier with probabilities; predict_proba needs one")
    return pred.probabilities[0] if isinstance(data, Mapping) else pred.probabilities
