"""Prometheus metrics of one server process: requests, errors, latency, batch sizes, versions served, collector pauses.

Each worker process keeps its own counters (a scrape reaches one worker).
An answered request costs a dict lookup and three additions in plain Python (:class:`AnswerTally`).
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Iterable

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["UNKNOWN_MODEL", "ApiMetrics"]

UNKNOWN_MODEL = "(not served)"
"""The one ``model`` label of requests naming a model this server does not serve: a label per name
a client makes up would grow the scrape, and the process, without bound."""

_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
_PAUSE_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class ApiMetrics:
    """The server's metrics, in a registry of their own (several apps can live in one process)."""

    def __init__(self, served: Iterable[str] = ()):
        self.served = frozenset(served)
        """Model names that get labels of their own; requests for any other are counted under UNKNOWN_MODEL."""
        self.registry = CollectorRegistry()
        self._errors = Counter("mldeploy_api_errors", "Prediction requests that failed, by model, endpoint and error type.",
                               ["model", "endpoint", "type"], registry=self.registry)
        self._batch = Histogram("mldeploy_api_batch_rows", "Rows per call of the serving core (micro-batch size).",
                                ["model", "version"], buckets=_BATCH_BUCKETS, registry=self.registry)
        self._version = Gauge("mldeploy_api_model_version", "The version each model serves now (0: none yet).",
                              ["model"], registry=self.registry)
        self._swaps = Counter("mldeploy_api_swaps", "Versions offered by a followed alias: accepted, or refused at a check.",
                              ["model", "version", "outcome"], registry=self.registry)
        self._shadow = Counter("mldeploy_api_shadow_predictions", "Shadow challenger requests by model, challenger "
                               "version and outcome (ok, refused, failed, skipped).",
                               ["model", "version", "outcome"], registry=self.registry)
        self._canary_share = Gauge("mldeploy_api_canary_share_percent", "Share of a model's requests its canary answers "
                                   "now (0 once a guard stopped it).", ["model"], registry=self.registry)
        self._children: dict[tuple, object] = {}
        self._tally = AnswerTally()
        self.registry.register(self._tally)
        self._answers: dict[tuple, tuple] = {}
        """(model, version, endpoint, status) -> its count and latency cells: one lookup an answer instead of five."""
        self._pauses = CollectorPauses()
        self.registry.register(self._pauses)

    def watch_collector(self) -> None:
        """Start timing the garbage collector's pauses (process-wide: call once per server)."""
        if self._pauses not in gc.callbacks:
            gc.callbacks.append(self._pauses)

    def unwatch_collector(self) -> None:
        """Stop timing them."""
        if self._pauses in gc.callbacks:
            gc.callbacks.remove(self._pauses)

    def _child(self, metric, *labels):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def answered(self, model: str, version, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        pair = self._answers.get((model, version, endpoint, status))
        if pair is None:
            pair = self._answer_metrics(model, version, endpoint, status)
        count, latency = pair
        count[0] += 1
        latency[bisect.bisect_left(_LATENCY_BUCKETS_S, seconds)] += 1
        latency[-1] += seconds

    def _answer_metrics(self, model: str, version, endpoint: str, status: int) -> tuple:
        """The count and latency cells of one kind of answer, kept for the next (for a served model only: bounded)."""
        label = model if model in self.served else UNKNOWN_MODEL
        pair = self._tally.cells((label, str(version or ""), endpoint, str(status)), (label, endpoint))
        if label == model:
            self._answers[(model, version, endpoint, status)] = pair
        return pair

    def failed(self, model: str, endpoint: str, error: BaseException) -> None:
        """Count one failed request by its error class."""
        model = model if model in self.served else UNKNOWN_MODEL
        self._child(self._errors, model, endpoint, type(error).__name__).inc()

    def batch(self, model: str, version, rows: int) -> None:
        """Record the size of one micro-batch."""
        self._child(self._batch, model, str(version)).observe(rows)

    def serving(self, model: str, version: int | None) -> None:
        """Set the version a model serves now."""
        self._child(self._version, model).set(version or 0)

    def swapped(self, model: str, version: int | None, accepted: bool, check: str | None) -> None:
        """Count one version offered to a live model: ``outcome`` is accepted or the check that refused it."""
        self._child(self._swaps, model, str(version), "accepted" if accepted else f"refused:{check}").inc()

    def shadowed(self, model: str, version, outcome: str) -> None:
        """Count one request the shadow challenger scored (ok), refused, failed on, or skipped (too many in flight)."""
        self._child(self._shadow, model, str(version or ""), outcome).inc()

    def watch_canary(self, model: str, canary) -> None:
        """Expose the share of ``model``'s requests its canary answers, as it changes."""
        self._canary_share.labels(model).set_function(lambda: canary.share)

    def watch_log(self, prediction_log) -> None:
        """Expose a prediction log's counts: rows written, dropped (queue full), queued, and logged without a key."""
        for what, read in (("written", lambda: prediction_log.written), ("dropped", lambda: prediction_log.dropped),
                           ("queued", lambda: prediction_log.queued), ("unkeyed", lambda: prediction_log.unkeyed)):
            gauge = Gauge(f"mldeploy_prediction_log_{what}_rows", f"Prediction log rows {what} since the server started"
                          + (" (now)" if what == "queued" else "") + ".", registry=self.registry)
            gauge.set_function(read)

    def render(self) -> tuple[bytes, str]:
        """Return the metrics in Prometheus' text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class AnswerTally:
    """Requests answered and their latency, counted in plain lists and shown as a counter and a histogram at a scrape.

    prometheus-client's Counter and Histogram take a lock and walk the buckets in Python on every
    observation: 1.1 µs a request between them, against 0.2 here. Every answer is counted on the
    server's event loop (REST and gRPC share it), and a scrape is read there too, so nothing needs a lock.
    """

    def __init__(self):
        self._counts: dict[tuple, list] = {}
        """(model, version, endpoint, status) -> [count]."""
        self._latencies: dict[tuple, list] = {}
        """(model, endpoint) -> [a count per bucket, +Inf last, then the sum of seconds]."""
        self._created: dict[tuple, float] = {}
        """Either kind of labels -> when its cells were made (Unix time; the two kinds differ in length)."""

    def cells(self, count_labels: tuple, latency_labels: tuple) -> tuple[list, list]:
        """The count cell (add 1 to ``[0]``) and latency cells (add 1 to a bucket, the seconds to ``[-1]``) of these labels."""
        count = self._counts.get(count_labels)
        if count is None:
            count = self._counts[count_labels] = [0]
            self._created[count_labels] = time.time()
        latency = self._latencies.get(latency_labels)
        if latency is None:
            latency = self._latencies[latency_labels] = [0] * (len(_LATENCY_BUCKETS_S) + 1) + [0.0]
            self._created[latency_labels] = time.time()
        return count, latency

    def collect(self):
        """Yield the counter and the histogram for a scrape (prometheus-client's custom collector protocol)."""
        created = prometheus_client.metrics._use_created  # off with PROMETHEUS_DISABLE_CREATED_SERIES, as for its own
        requests = CounterMetricFamily("mldeploy_api_requests", "Prediction requests answered, by model, version, "
                                       "endpoint and status.", labels=["model", "version", "endpoint", "status"])
        for labels, (count,) in self._counts.items():
            requests.add_metric(labels, count, created=self._created[labels] if created else None)
        yield requests
        latency = HistogramMetricFamily("mldeploy_api_request_seconds", "Time from request to answer, by model and "
                                        "endpoint.", labels=["model", "endpoint"])
        bounds = [*map(floatToGoString, _LATENCY_BUCKETS_S), "+Inf"]
        for labels, cells in self._latencies.items():
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, cells[:-1]):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric(labels, buckets, cells[-1])
            if created:
                latency.add_sample("mldeploy_api_request_seconds_created", dict(zip(("model", "endpoint"), labels)),
                                   self._created[labels])
        yield latency


class CollectorPauses:
    """Time every garbage collection (a ``gc.callbacks`` entry) and show the pauses per generation.

    A collection stops every thread, the event loop's too: these pauses are where a server's
    slowest answers come from when it holds many long-lived objects (see :mod:`mldeploy.serving.frozen_heap`).
    The callback takes no lock: a collection can start inside any code, one holding a metric's lock included.
    """

    def __init__(self):
        self._started = 0.0
        self._counts = [[0] * (len(_PAUSE_BUCKETS_S) + 1) for _ in range(3)]  # per generation, per bucket, +Inf last
        self._sums = [0.0] * 3

    def __call__(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        generation, seconds = info["generation"], now - self._started
        self._counts[generation][bisect.bisect_left(_PAUSE_BUCKETS_S, seconds)] += 1
        self._sums[generation] += seconds

    def collect(self):
        """Yield the histogram for a scrape (prometheus-client's custom collector protocol)."""
        family = HistogramMetricFamily("mldeploy_api_gc_pause_seconds",
                                       "Pauses of the garbage collector in this process, by generation.", labels=["generation"])
        for generation, counts in enumerate(self._counts):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, _PAUSE_BUCKETS_S), "+Inf"), counts):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([str(generation)], buckets, self._sums[generation])
        yield family
