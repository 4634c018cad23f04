"""The one data plane under both transports: find a model (or a pinned version), predict through its batcher.

REST (:mod:`mldeploy.api.app`: ``/predict`` and V2 ``infer``) and gRPC
(:mod:`mldeploy.api.grpc.service`) are thin translations of their wire formats
into these calls, over the same catalog, batchers, metrics and hot-swapping
live models. ``/predict`` adds one coroutine call and one dict lookup on its
way to the batcher (:meth:`DataPlane.predict`), nothing per row.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from mldeploy.api.catalog import Catalog, ServedModel
from mldeploy.api.config import ApiConfig
from mldeploy.api.errors import status_for
from mldeploy.api.metrics import ApiMetrics
from mldeploy.api.protocol import InferRequest
from mldeploy.errors import MldeployError, NotFoundError, NotReadyError
from mldeploy.serving import Prediction, codecs
from mldeploy.serving.prediction_log import LogEntry, PredictionLog, new_request_id, split_keys

__all__ = ["DataPlane"]

log = logging.getLogger("mldeploy.api")
_MAX_VERSION = 999_999_999  # as many digits as a reference may carry


class Keyed(NamedTuple):
    """A request's log keys (one per row), its id, and the key that routes it to a canary (None: at random)."""

    keys: list[str]
    request_id: str
    sticky: str | None


class DataPlane:
    """The served models of one process, once its lifespan has built the catalog."""

    def __init__(self, config: ApiConfig, metrics: ApiMetrics):
        self.config = config
        self.metrics = metrics
        self.catalog: Catalog | None = None
        self.prediction_log: PredictionLog | None = None
        """Where answered predictions are logged (``--log-to``); opened by the app's lifespan in each worker."""

    @property
    def is_ready(self) -> bool:
        """True when the catalog is built and every served model is ready."""
        return self.catalog is not None and self.catalog.is_ready

    def served(self, name: str) -> ServedModel:
        """Return the served model ``name`` (NotReadyError while starting, NotFoundError for another name)."""
        if self.catalog is None:
            raise NotReadyError("the server is starting; retry in a moment")
        return self.catalog.get(name)

    async def target(self, name: str, version: int | None) -> ServedModel:
        """Return the served model, having loaded ``version`` if one is asked for (NotFoundError if none such)."""
        served = self.served(name)
        if version is not None and not 0 < version <= _MAX_VERSION:
            raise NotFoundError(f'no version {version} of "{served.name}": versions are numbered from 1')
        if version is not None and not served.is_loaded(version):
            await served.pinned(version)  # NotFoundError for a version the registry does not have
        return served

    async def model_ready(self, name: str, version: int | None) -> tuple[bool, int | None]:
        """Return whether the model (or that version) answers now, and the version its alias serves.

        A health check, open without a token: answered from what is loaded, loading nothing (a version
        not at hand is a 404, "not ready" in the V2 protocol), and a 404 that lists nothing this server
        or its registry holds.
        """
        if self.catalog is None:
            raise NotReadyError("the server is starting; retry in a moment")
        served = self.catalog.models.get(name)
        if served is None:
            raise NotFoundError(f'this server does not serve a model "{name}"')
        if version is not None and not served.is_loaded(version):  # the V2 protocol: a 4xx means not ready
            raise NotFoundError(f'version {version} of "{name}" is not loaded here; a prediction request for it loads it')
        return served.live.is_ready, served.live.version  # this model's own readiness, whatever its challengers'

    async def infer(self, name: str, version: int | None, request: InferRequest, extra: str = "reject",
                    alone_inline: bool = False, endpoint: str = "rest.infer") -> Prediction:
        """Predict for a decoded V2 request; small ones join a micro-batch, large ones run as one frame.

        ``alone_inline``: a small request that finds no other one queued or running predicts at
        once instead (see :meth:`MicroBatcher.run_alone`). ``endpoint`` names the route in the prediction log.
        """
        if version is None:  # the usual request: nothing to load, no coroutine to await
            served = self.served(name)
            model, batcher = served.model, served.batcher
        else:
            served = await self.target(name, version)
            model, batcher = await served.pinned(version)
        keyed = self._column_keys(request) if self._takes_keys(served) else None
        if request.rows <= batcher.max_batch_rows:
            rows = request.records()
        else:
            rows = codecs.columns_to_frame(request.columns, model.schema)
        if keyed is None:
            pred = batcher.run_alone(rows, extra) if alone_inline and isinstance(rows, list) else None
            return pred if pred is not None else await batcher.submit(rows, extra)
        # A pinned version is asked for by name: no challenger stands in for it.
        return await self._answer(served if version is None else None, batcher, rows, extra, keyed, request.columns,
                                  endpoint, alone_inline)

    async def predict(self, name: str, records: list, extra: str = "reject", endpoint: str = "rest.predict") -> Prediction:
        """Predict for the records of a plain JSON request (``/predict``): they join a micro-batch of the served model."""
        served = self.served(name)
        if not self._takes_keys(served):
            return await served.batcher.submit(records, extra)
        keyed = self._record_keys(records)
        return await self._answer(served, served.batcher, records, extra, keyed, records, endpoint)

    # -- the prediction log: the key is taken out before validation, the answer queued after it is made -------

    def _record_keys(self, records: list) -> Keyed:
        keys, request_id, missing = split_keys(records, self.config.log_key, None)
        self._count_unkeyed(missing)
        sticky = keys[0] if self.config.log_key is not None and keys and keys[0] != request_id else None
        return Keyed(keys, request_id, sticky)

    def _column_keys(self, request: InferRequest) -> Keyed:
        request_id = request.id or new_request_id()
        values = request.columns.pop(self.config.log_key, None) if self.config.log_key is not None else None
        if values is None:
            self._count_unkeyed(request.rows)
            return Keyed([request_id if row == 0 else f"{request_id}#{row}" for row in range(request.rows)], request_id, None)
        values = values.tolist() if hasattr(values, "tolist") else values
        keys = [str(value) for value in values]
        return Keyed(keys, request_id, keys[0] if keys else None)

    def _count_unkeyed(self, rows: int) -> None:
        if rows and self.config.log_key is not None and self.prediction_log is not None:
            self.prediction_log.count_unkeyed(rows)

    def _takes_keys(self, served: ServedModel) -> bool:
        """Whether requests need their log key taken out (and their answers more than the batcher's call)."""
        return (self.prediction_log is not None or self.config.log_key is not None or served.shadow is not None
                or served.canary is not None)

    async def _answer(self, served: ServedModel | None, batcher, rows, extra: str, keyed: Keyed, inputs,
                      endpoint: str, alone_inline: bool = False) -> Prediction:
        """Predict with the champion, or the canary for its share; log the answer; hand the rows to a shadow after it."""
        canary = served.canary if served is not None else None
        started = time.perf_counter()
        if canary is not None and canary.live.is_ready and canary.chooses(keyed.sticky):  # not loaded: the champion answers
            try:
                pred = await canary.batcher.submit(rows, extra)
            except Exception as exc:
                canary.observe(status_for(exc) >= 500, time.perf_counter() - started)
                raise
            canary.observe(False, time.perf_counter() - started)
        else:
            pred = batcher.run_alone(rows, extra) if alone_inline and isinstance(rows, list) else None
            if pred is None:
                pred = await batcher.submit(rows, extra)
        self._log(pred, keyed, inputs, endpoint, time.perf_counter() - started, "served")
        if served is not None and served.shadow is not None:
            served.shadow.after_answer(rows, extra, lambda shadowed, seconds: self._log(
                shadowed, keyed, inputs, endpoint, seconds, "shadow"))
        return pred

    def _log(self, pred: Prediction, keyed: Keyed, inputs, endpoint: str, seconds: float, role: str) -> None:
        if self.prediction_log is not None:
            self.prediction_log.submit(LogEntry(pred, keyed.keys, inputs if self.config.log_inputs else None, "api",
                                                endpoint, keyed.request_id, role=role, at=time.time(), latency_s=seconds))

    def failed(self, exc: Exception, name: str, endpoint: str) -> MldeployError:
        """Count and log a failed call; return the error to answer with (an unexpected one, reworded)."""
        if not isinstance(exc, MldeployError):
            log.error("unexpected failure answering %s for %s", endpoint, name, exc_info=exc)
            exc = MldeployError(f"the server failed unexpectedly ({type(exc).__name__}); see its log")
        elif status_for(exc) == 500:  # 503s (loading, registry down) are the state of things, not failures to log
            log.error("%s for %s failed: %s", endpoint, name, exc)
        self.metrics.failed(name, endpoint, exc)
        return exc
