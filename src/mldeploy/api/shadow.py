"""The shadow challenger: another version scores the champion's requests after each answer is sent.

``--shadow salary:staging`` gives a served model a second live model that
follows its own alias (the same checks and hot swap as the champion) and a
micro-batcher of its own on the same threads. After the champion's answer is
made, the request's validated rows (the log key already taken out) are handed
to the challenger in a task that first yields to the event loop, so the answer
goes out before the challenger's work starts. The challenger's prediction is
logged beside the champion's under the same key and request id (role
``shadow``); its failures and refusals are counted in ``/metrics``, never told
to the client. At most ``max_in_flight`` shadow requests wait at once: past
that they are skipped and counted, so a slow challenger cannot grow memory
without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mldeploy.api.challenger import Challenger
from mldeploy.bundle import BundleRef
from mldeploy.errors import MldeployError, SchemaError
from mldeploy.serving import Prediction

__all__ = ["Shadow"]

log = logging.getLogger("mldeploy.api")


class Shadow:
    """A challenger for one served model, and the shadow requests in flight."""

    def __init__(self, ref: BundleRef, catalog, max_in_flight: int = 1024):
        self.ref = ref
        self.challenger = Challenger(ref, catalog, "shadow")
        self.live, self.batcher = self.challenger.live, self.challenger.batcher
        self._metrics = catalog.metrics
        self._max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task] = set()
    def after_answer(self, rows, extra: str, on_prediction: Callable[[Prediction, float], None]) -> None:
        """Score ``rows`` with the challenger once the current answer is on its way; ``on_prediction(pred, seconds)`` logs it."""
        if len(self._tasks) >= self._max_in_flight:
            self._metrics.shadowed(self.ref.name, None, "skipped")
            return
        task = asyncio.get_running_loop().create_task(self._score(rows, extra, on_prediction))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _score(self, rows, extra: str, on_prediction) -> None:
        await asyncio.sleep(0)  # let the champion's answer be written first
        started = time.perf_counter()
        try:
            pred = await self.batcher.submit(rows, extra)
        except SchemaError:
            self._metrics.shadowed(self.ref.name, self.live.version, "refused")
            return
        except Exception as exc:
            self._metrics.shadowed(self.ref.name, self.live.version, "failed")
            if not isinstance(exc, MldeployError):
                log.warning("shadow %s failed: %s: %s", self.ref, type(exc).__name__, exc)
            return
        self._metrics.shadowed(self.ref.name, pred.version, "ok")
        on_prediction(pred, time.perf_counter() - started)

    async def drain(self) -> None:
        """Wait for the shadow requests in flight (at shutdown, before the log closes)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Stop following the challenger's alias."""
        self.challenger.close()
