"""ApiMetrics: the collector's pauses, timed by a gc callback, reach a scrape per generation."""

import gc
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
