"""The one data plane under both transports: find a model (or a pinned version), predict through its batcher.

REST (:mod:`mldeploy.api.app`: ``/predict`` and V2 ``infer``) and gRPC
(:mod:`mldeploy.api.grpc.service`) are thin translations of their wire formats
into these calls, over the same catalog, batchers, metrics and hot-swapping
live models. ``/predict`` adds one coroutine call and one dict lookup on its
way to the batcher (:meth:`DataPlane.predict`), nothing per row.
"""

from __future__ import annotations

import logging

from mldeploy.api.catalog import Catalog, ServedModel
from mldeploy.api.config import ApiConfig
from mldeploy.api.errors import status_for
from mldeploy.api.metrics import ApiMetrics
from mldeploy.api.protocol import InferRequest
from mldeploy.errors import MldeployError, NotFoundError, NotReadyError
from mldeploy.serving import Prediction, codecs

__all__ = ["DataPlane"]

log = logging.getLogger("mldeploy.api")
_MAX_VERSION = 999_999_999  # as many digits as a reference may carry


class DataPlane:
    """The served models of one process, once its lifespan has built the catalog."""

    def __init__(self, config: ApiConfig, metrics: ApiMetrics):
        self.config = config
        self.metrics = metrics
        self.catalog: Catalog | None = None

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
        """Return whether the model (or that version) answers now, and the version its alias serves."""
        served = await self.target(name, version)
        is_ready = served.is_ready if version is None else served.is_loaded(version)
        return is_ready, served.live.version

    async def infer(self, name: str, version: int | None, request: InferRequest, extra: str = "reject",
                    alone_inline: bool = False) -> Prediction:
        """Predict for a decoded V2 request; small ones join a micro-batch, large ones run as one frame.

        ``alone_inline``: a small request that finds no other one queued or running predicts at
        once instead (see :meth:`MicroBatcher.run_alone`).
        """
        served = await self.target(name, version)
        model, batcher = (served.model, served.batcher) if version is None else await served.pinned(version)
        if request.rows <= batcher.max_batch_rows:
            records = request.records()
            pred = batcher.run_alone(records, extra) if alone_inline else None
            return pred if pred is not None else await batcher.submit(records, extra)
        return await batcher.submit(codecs.columns_to_frame(request.columns, model.schema), extra)

    async def predict(self, name: str, records: list, extra: str = "reject") -> Prediction:
        """Predict for the records of a plain JSON request (``/predict``): they join a micro-batch of the served model."""
        return await self.served(name).batcher.submit(records, extra)

    def failed(self, exc: Exception, name: str, endpoint: str) -> MldeployError:
        """Count and log a failed call; return the error to answer with (an unexpected one, reworded)."""
        if not isinstance(exc, MldeployError):
            log.error("unexpected failure answering %s for %s", endpoint, name, exc_info=exc)
            exc = MldeployError(f"the server failed unexpectedly ({type(exc).__name__}); see its log")
        elif status_for(exc) == 500:  # 503s (loading, registry down) are the state of things, not failures to log
            log.error("%s for %s failed: %s", endpoint, name, exc)
        self.metrics.failed(name, endpoint, exc)
        return exc
