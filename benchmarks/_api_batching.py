"""What bench_api.py reads besides req/s: the server's own counters, and where a shared batch starts to pay.

- :func:`scrape` reads `mldeploy serve`'s /metrics: micro-batches made so far and the garbage
  collector's generation-2 pauses (count, total, the longest bucket reached).
- :func:`crossover` measures in-process, on one core, k single-row requests that arrive in the same turn
  of the event loop: each predicted at once on its own (``MicroBatcher.run_alone``, what a gRPC call
  that finds no company does) or all in one shared batch (``submit``). CPU per call for each k; the
  crossover is the smallest k from which the shared batch costs less per call.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})? (\S+)$", re.M)
CROSSOVER_SIZES = (1, 2, 4, 8, 16, 32, 64)


def scrape(base_url: str) -> dict:
    """Return the batches made and the generation-2 collector pauses so far (count, seconds, {bucket bound: count})."""
    import httpx

    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    batches, pauses, seconds, buckets = 0.0, 0.0, 0.0, {}
    for name, labels, value in _SAMPLE.findall(text):
        if name == "mldeploy_api_batch_rows_count":
            batches += float(value)
        elif name.startswith("mldeploy_api_gc_pause_seconds") and 'generation="2"' in labels:
            if name.endswith("_count"):
                pauses = float(value)
            elif name.endswith("_sum"):
                seconds = float(value)
            elif name.endswith("_bucket"):
                buckets[float(re.search(r'le="([^"]+)"', labels)[1])] = float(value)
    return {"batches": batches, "gc2": pauses, "gc2_s": seconds, "gc2_buckets": buckets}


def longest_pause_bound(before: dict, after: dict) -> float | None:
    """The smallest bucket bound that holds every generation-2 pause between two scrapes (None: there was none)."""
    if after["gc2"] == before["gc2"]:
        return None
    grown = after["gc2"] - before["gc2"]
    return min(bound for bound, count in after["gc2_buckets"].items()
               if count - before["gc2_buckets"].get(bound, 0.0) >= grown)


def crossover(bundle, row: dict, calls: int = 4096) -> list[tuple[int, float, float]]:
    """Return (k, CPU µs per call each alone, CPU µs per call in one shared batch) for each k in CROSSOVER_SIZES."""
    from mldeploy.api.batcher import MicroBatcher
    from mldeploy.serving import Model

    model = Model(bundle)
    batcher = MicroBatcher(lambda rows, extra: model.infer_accepted(rows, extra=extra, missing="as-trained"), ThreadPoolExecutor(1),
                           runs_inline=lambda rows: True)

    async def alone():
        return batcher.run_alone([row])

    async def per_call(k: int, together: bool) -> float:
        rounds = max(calls // k, 16)
        for _ in range(2):  # warm, then timed
            began = time.process_time()
            for _ in range(rounds):
                await asyncio.gather(*(batcher.submit([row]) if together else alone() for _ in range(k)))
        return (time.process_time() - began) / (rounds * k) * 1e6

    async def main():
        return [(k, await per_call(k, False), await per_call(k, True)) for k in CROSSOVER_SIZES]

    return asyncio.run(main())


def crossover_size(table: list[tuple[int, float, float]]) -> int | None:
    """The smallest k from which a shared batch costs less per call than each call alone (None: never up to the largest k)."""
    return next((k for k, alone, together in table if together < alone), None)
