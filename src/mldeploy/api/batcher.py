"""Adaptive micro-batching: concurrent requests for one model become one call of the serving core.

Nothing waits for company: a request that finds the model idle is dispatched
at the end of the current event-loop turn, so a lone client pays no delay and
requests that arrived in the same turn (or queued behind a running batch)
share one call. The serving core sets bad rows aside
(:meth:`Model.infer_accepted`) and predicts the rest in that one call; the
batch is split back into requests with :meth:`Prediction.slice`, and a bad row
fails only its own request (a SchemaError naming its rows, numbered from 0).

Small batches on the compiled path cost tens of microseconds and run on the
event loop (a thread hop would cost more than the prediction); larger ones,
and any batch on the scikit-learn path (milliseconds), run in a thread so the
loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace

import pandas as pd

from mldeploy.errors import PredictionError, SchemaError
from mldeploy.serving import Prediction
from mldeploy.serving.result import Accepted

__all__ = ["MicroBatcher"]

Infer = Callable[[object, str], Accepted]
"""(rows, extra) -> Accepted: one call of the serving core (records or a DataFrame), bad rows set aside."""


class _Job:
    """One request's rows waiting for a batch; its size is read several times a batch, so it is kept."""

    __slots__ = ("rows", "extra", "future", "size", "arrived")

    def __init__(self, rows: list | pd.DataFrame, extra: str, future: asyncio.Future | None):
        self.rows, self.extra, self.future, self.size = rows, extra, future, len(rows)
        self.arrived = time.monotonic()


class MicroBatcher:
    """Queue requests for one model and run them in batches of at most ``max_batch_rows`` rows.

    ``runs_inline(rows)`` says whether a batch of that many rows may run on the
    event loop (the model's compiled path, small batch); ``on_batch(rows, pred)``
    is told of every batch that succeeded (metrics).
    """

    def __init__(self, infer: Infer, executor: Executor, *, max_batch_rows: int = 256, max_wait_s: float = 0.0,
                 runs_inline: Callable[[int], bool] = lambda rows: False,
                 on_batch: Callable[[int, Prediction], None] = lambda rows, pred: None):
        self._infer = infer
        self._executor = executor
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self._runs_inline = runs_inline
        self._on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._busy = False           # a batch is running in a thread
        self._scheduled = False      # a dispatch is already due on the loop
        self._last_jobs = 0          # jobs in the previous batch: >1 means requests are arriving together

    @property
    def queued_rows(self) -> int:
        """Rows waiting for a batch (not counting the batch running now)."""
        return self._queued_rows

    async def submit(self, rows: list | pd.DataFrame, extra: str = "reject") -> Prediction:
        """Queue ``rows`` (records, or a DataFrame that runs alone) and return their predictions."""
        loop = asyncio.get_running_loop()
        job = _Job(rows, extra, loop.create_future())
        self._queue.append(job)
        self._queued_rows += job.size
        if not self._busy:
            self._schedule(loop)
        return await job.future

    def run_alone(self, rows: list, extra: str = "reject") -> Prediction | None:
        """Predict ``rows`` at once, on the caller's turn of the loop, when no other request waits or runs.

        None when there is company, or the rows would not run inline: then :meth:`submit` them.
        For transports that hand the loop one request per turn (grpc.aio), where a batch
        never forms and a future to await costs more than it saves.
        """
        if self._queue or self._busy or not self._runs_inline(len(rows)):
            return None
        result = self._run([_Job(rows, extra, None)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._scheduled or not self._queue:
            return
        self._scheduled = True
        full = self._queued_rows >= self.max_batch_rows
        if self.max_wait_s <= 0 or full or self._last_jobs <= 1:
            loop.call_soon(self._dispatch, loop)
        else:  # requests come in groups: let the batch fill, but no longer than max_wait_s
            loop.call_at(loop.time() + max(0.0, self._queue[0].arrived + self.max_wait_s - time.monotonic()),
                         self._dispatch, loop)

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        while self._queue and not self._busy:
            jobs = self._take()
            rows = sum(job.size for job in jobs)
            self._last_jobs = len(jobs)
            if self._runs_inline(rows):
                _deliver(jobs, self._run(jobs))
                continue
            self._busy = True
            running = loop.run_in_executor(self._executor, self._run, jobs)
            running.add_done_callback(lambda done, jobs=jobs: self._finish(loop, jobs, done))

    def _take(self) -> list[_Job]:
        """Take the next batch: jobs with the same options, up to max_batch_rows rows (a DataFrame alone)."""
        first = self._queue.popleft()
        jobs, rows = [first], first.size
        while isinstance(first.rows, list) and self._queue:
            job = self._queue[0]
            if job.extra != first.extra or not isinstance(job.rows, list) or rows + job.size > self.max_batch_rows:
                break
            jobs.append(self._queue.popleft())
            rows += job.size
        self._queued_rows -= rows
        return jobs

    def _finish(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job], done: asyncio.Future) -> None:
        self._busy = False
        try:
            _deliver(jobs, done.result())
        except BaseException as exc:  # a failure of the batch itself: every request in it hears of it
            _deliver(jobs, [exc] * len(jobs))
        self._schedule(loop)

    def _run(self, jobs: list[_Job]) -> list[Prediction | Exception]:
        """Predict for a batch; return one result or error per job (runs in a thread or inline)."""
        extra = jobs[0].extra
        rows = jobs[0].rows if len(jobs) == 1 else [row for job in jobs for row in job.rows]
        try:
            accepted = self._infer(rows, extra)
        except (SchemaError, PredictionError) as exc:  # a whole-input issue, or a row the pipeline fails on
            return [self._run([job])[0] for job in jobs] if len(jobs) > 1 else [exc]
        except Exception as exc:
            return [exc] * len(jobs)
        pred = accepted.prediction
        if len(pred):
            self._on_batch(len(pred), pred)
        if not accepted.refused:
            return _slices(jobs, pred)
        return _answers(jobs, accepted)


def _answers(jobs: list[_Job], accepted: Accepted) -> list[Prediction | Exception]:
    """Each request's own predictions, or a SchemaError of its refused rows (re-numbered from its first row)."""
    results = []
    for start, stop in _offsets(jobs):
        issues = [replace(issue, row=issue.row - start)
                  for position, row_issues in accepted.refused.items() if start <= position < stop
                  for issue in row_issues]
        if issues:
            results.append(SchemaError(issues, accepted.hint))
        else:
            first = accepted.index_of(start)
            results.append(accepted.prediction.slice(first, first + stop - start))
    return results


def _offsets(jobs: list[_Job]) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for job in jobs:
        bounds.append((start, start + job.size))
        start += job.size
    return bounds


def _slices(jobs: list[_Job], pred: Prediction) -> list[Prediction]:
    if len(jobs) == 1:
        return [pred]
    return [pred.slice(start, stop) for start, stop in _offsets(jobs)]


def _deliver(jobs: list[_Job], results: list) -> None:
    for job, result in zip(jobs, results):
        if job.future.done():  # the client went away and its request was cancelled
            continue
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
