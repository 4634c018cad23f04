"""Prometheus metrics of one server process: requests, errors, latency, batch sizes, versions served.

Each worker process keeps its own counters (a scrape reaches one worker).
Labelled children are cached so a request costs a dict lookup and two increments.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ApiMetrics"]

_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)


class ApiMetrics:
    """The server's metrics, in a registry of their own (several apps can live in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self._requests = Counter("mldeploy_api_requests", "Prediction requests answered, by model, version, endpoint and status.",
                                 ["model", "version", "endpoint", "status"], registry=self.registry)
        self._errors = Counter("mldeploy_api_errors", "Prediction requests that failed, by model, endpoint and error type.",
                               ["model", "endpoint", "type"], registry=self.registry)
        self._latency = Histogram("mldeploy_api_request_seconds", "Time from request to answer, by model and endpoint.",
                                  ["model", "endpoint"], buckets=_LATENCY_BUCKETS_S, registry=self.registry)
        self._batch = Histogram("mldeploy_api_batch_rows", "Rows per call of the serving core (micro-batch size).",
                                ["model", "version"], buckets=_BATCH_BUCKETS, registry=self.registry)
        self._version = Gauge("mldeploy_api_model_version", "The version each model serves now (0: none yet).",
                              ["model"], registry=self.registry)
        self._swaps = Counter("mldeploy_api_swaps", "Versions offered by a followed alias: accepted, or refused at a check.",
                              ["model", "version", "outcome"], registry=self.registry)
        self._children: dict[tuple, object] = {}

    def _child(self, metric, *labels):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def answered(self, model: str, version, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self._child(self._requests, model, str(version or ""), endpoint, str(status)).inc()
        self._child(self._latency, model, endpoint).observe(seconds)

    def failed(self, model: str, endpoint: str, error: BaseException) -> None:
        """Count one failed request by its error class."""
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

    def render(self) -> tuple[bytes, str]:
        """Return the metrics in Prometheus' text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
