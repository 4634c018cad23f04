"""ApiMetrics: answers counted by label, and the collector's pauses, timed by a gc callback, reach a scrape per generation."""

import gc
import math
import random
import re

from mldeploy.api.metrics import ApiMetrics


def _count(metrics: ApiMetrics, generation: int) -> float:
    text = metrics.render()[0].decode()
    return float(re.search(rf'mldeploy_api_gc_pause_seconds_count{{generation="{generation}"}} (\S+)', text)[1])


def test_collector_pauses_are_counted_while_watched_and_only_then():
    metrics = ApiMetrics()
    metrics.watch_collector()
    try:
        metrics.watch_collector()  # a second call adds no second callback
        before = _count(metrics, 2)
        gc.collect()
        assert _count(metrics, 2) == before + 1
        assert 'mldeploy_api_gc_pause_seconds_bucket{generation="2",le="+Inf"}' in metrics.render()[0].decode()
    finally:
        metrics.unwatch_collector()
    stopped = _count(metrics, 2)
    gc.collect()
    assert _count(metrics, 2) == stopped


def test_answers_are_counted_per_version_endpoint_and_status_and_made_up_names_keep_one_label():
    metrics = ApiMetrics(served=["salary"])
    for _ in range(3):
        metrics.answered("salary", 4, "infer", 200, 0.002)
    metrics.answered("salary", None, "predict", 200, 0.2)
    for name in ("made-up-1", "made-up-2"):
        metrics.answered(name, 1, "predict", 200, 0.001)
    text = metrics.render()[0].decode()
    assert 'mldeploy_api_requests_total{endpoint="infer",model="salary",status="200",version="4"} 3.0' in text
    assert 'mldeploy_api_requests_total{endpoint="predict",model="salary",status="200",version=""} 1.0' in text
    assert 'mldeploy_api_requests_total{endpoint="predict",model="(not served)",status="200",version="1"} 2.0' in text
    assert 'mldeploy_api_request_seconds_count{endpoint="infer",model="salary"} 3.0' in text
    assert 'mldeploy_api_request_seconds_sum{endpoint="predict",model="salary"} 0.2' in text
    assert "made-up" not in text and len(metrics._answers) == 2  # what a client names is never kept


def test_the_tally_shows_what_prometheus_clients_own_counter_and_histogram_would():
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from mldeploy.api import metrics as module

    ours = ApiMetrics(served=["salary", "churn"])
    registry = CollectorRegistry()
    requests = Counter("mldeploy_api_requests", "x", ["model", "version", "endpoint", "status"], registry=registry)
    latency = Histogram("mldeploy_api_request_seconds", "x", ["model", "endpoint"], buckets=module._LATENCY_BUCKETS_S,
                        registry=registry)
    rng = random.Random(3)
    for _ in range(2000):
        model, endpoint, status = rng.choice(["salary", "churn"]), rng.choice(["predict", "infer"]), rng.choice([200, 422])
        version = rng.choice([None, 1, 2])
        seconds = rng.choice([*module._LATENCY_BUCKETS_S, 0.0, 20.0, rng.expovariate(500)])  # the bounds themselves too
        ours.answered(model, version, endpoint, status, seconds)
        requests.labels(model, str(version or ""), endpoint, str(status)).inc()
        latency.labels(model, endpoint).observe(seconds)

    def samples(text: str) -> list[str]:
        return sorted(line for line in text.splitlines()
                      if line.startswith(("mldeploy_api_requests_total", "mldeploy_api_request_seconds_"))
                      and "_created" not in line and "_sum" not in line)

    assert samples(ours.render()[0].decode()) == samples(generate_latest(registry).decode())
    ours_sums = re.findall(r"mldeploy_api_request_seconds_sum\{(.*)\} (\S+)", ours.render()[0].decode())
    their_sums = dict(re.findall(r"mldeploy_api_request_seconds_sum\{(.*)\} (\S+)", generate_latest(registry).decode()))
    assert len(ours_sums) == 4 and all(math.isclose(float(v), float(their_sums[k])) for k, v in ours_sums)


def test_created_series_are_left_out_when_prometheus_client_leaves_out_its_own():
    from prometheus_client import disable_created_metrics, enable_created_metrics

    metrics = ApiMetrics(served=["salary"])
    metrics.answered("salary", 1, "predict", 200, 0.01)
    assert "mldeploy_api_requests_created" in metrics.render()[0].decode()
    disable_created_metrics()
    try:
        text = metrics.render()[0].decode()
    finally:
        enable_created_metrics()
    assert "mldeploy_api_requests_total" in text and "mldeploy_api_request_seconds_count" in text
    assert "_created" not in text
