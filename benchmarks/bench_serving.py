"""The serving core's one call, `Model.infer`, against the `Model.predict` it replaced; and swap stalls.

1. `infer` (validation, labels and probabilities in one pass, the result type)
   against the embedded `Model.predict` as it was before the serving core
   (loaded from git history, commit 9a4353c) and against raw `pipeline.predict`,
   at batch sizes 1, 64, 1,024 and 65,536, interleaved in one run.
   Floor (issue 8): infer costs no more than the previous predict.
2. A LiveModel swapping versions while one thread predicts one row in a loop:
   the longest gap between two predictions during swaps, against the longest
   gap in as many predictions without swaps.

Run: `.venv/bin/python benchmarks/bench_serving.py [--quick]` (prints a markdown section).
"""

from __future__ import annotations

import argparse
import importlib.util
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _pipelines import pipelines  # noqa: E402
from _timing import machine_line, paired_medians, pin_threads  # noqa: E402

pin_threads()

BATCHES = (1, 64, 1_024, 65_536)
PREVIOUS_COMMIT = "9a4353c"
REPO = Path(__file__).resolve().parents[1]


def previous_model_class():
    """Return the embedded Model class as it was at PREVIOUS_COMMIT, or None when git history is missing."""
    try:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{PREVIOUS_COMMIT}:src/mldeploy/embedded/model.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # Its two private helpers moved into the serving core unchanged in behaviour.
    source = source.replace("mldeploy.embedded._compiled_path", "mldeploy.serving._compiled_path")
    source = source.replace("mldeploy.embedded._row_frame", "mldeploy.serving._row_frame")
    path = Path(tempfile.mkdtemp()) / "previous_model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Model


def measure_calls(name, pipeline, features, rows, batches, previous) -> list[dict]:
    """Time raw predict, the previous Model.predict and Model.infer on the same rows."""
    from mldeploy.bundle import Bundle
    from mldeploy.serving.model import Model

    bundle = Bundle.from_pipeline(pipeline, features, name="bench")
    model = Model(bundle)
    old = previous(bundle) if previous is not None else None
    results = []
    for size in batches:
        frame = rows.iloc[:size].reset_index(drop=True)
        data = _records(frame)[0] if size == 1 else frame
        raw_frame = frame.iloc[:1] if size == 1 else frame
        calls = {"raw": lambda f=raw_frame: pipeline.predict(f), "infer": lambda d=data: model.infer(d)}
        if old is not None:
            calls["previous"] = (lambda d=data: _previous_call(old, d))
        timed = paired_medians(calls, budget_s=8.0 if size >= 65_536 else 2.0)
        results.append({"pipeline": name, "rows": size, "input": "1 dict" if size == 1 else "DataFrame", **timed})
    return results


def _previous_call(old, data):
    # What an adapter needed before: predictions, then probabilities in a second validated call.
    values = old.predict(data)
    return (values, old.predict_proba(data)) if old.classes is not None else values


def measure_swap_stall(pipeline, features, swaps: int) -> dict:
    """Predict in a loop while a LiveModel swaps ``swaps`` times; return the gaps."""
    from mldeploy.bundle import Bundle, BundleRef
    from mldeploy.serving.live_model import LiveModel
    from mldeploy.serving.model_source import Candidate

    folder = Path(tempfile.mkdtemp())
    base = Bundle.from_pipeline(pipeline, features, name="bench", directory=folder / "base")
    versions = [base.copy_to(folder / f"v{v}", version=v) for v in range(1, swaps + 2)]
    source = _Offers()
    live = LiveModel(source, poll_timeout_s=0.05)
    swapped = queue.Queue()
    live.on_swap(swapped.put)
    row = _records(features.head(1))[0]
    source.offer(Candidate(versions[0].ref, versions[0].digest, lambda b=versions[0]: Bundle.open(b.path)))
    live.wait_ready(120)
    stamps, stop = [], threading.Event()
    thread = threading.Thread(target=_loop, args=(live, row, stamps, stop))
    thread.start()
    time.sleep(0.5)
    quiet = len(stamps)
    for bundle in versions[1:]:
        source.offer(Candidate(BundleRef("bench", bundle.version), bundle.digest, lambda b=bundle: Bundle.open(b.path)))
        swapped.get(timeout=120)
    stop.set()
    thread.join()
    live.close()
    gaps_quiet = [b - a for a, b in zip(stamps[:quiet], stamps[1:quiet])]
    gaps_swapping = [b - a for a, b in zip(stamps[quiet:], stamps[quiet + 1:])]
    return {"swaps": swaps, "quiet_max": max(gaps_quiet), "swap_max": max(gaps_swapping),
            "swap_p99": sorted(gaps_swapping)[int(len(gaps_swapping) * 0.99)], "predictions": len(stamps)}


class _Offers:
    name = "bench"

    def __init__(self):
        self._queue = queue.Queue()

    def offer(self, candidate):
        self._queue.put(candidate)

    def describe(self):
        return "benchmark offers"

    def next_candidate(self, timeout_s):
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self):
        pass


def _loop(live, row, stamps, stop):
    while not stop.is_set():
        live.predict(row)
        stamps.append(time.perf_counter())


def _records(frame) -> list[dict]:
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report(results, stall, train_rows) -> str:
    """Format the results as a markdown section, the floor checked."""
    lines = [
        "## Serving core: `Model.infer` vs the `Model.predict` it replaced",
        "",
        f"Pipelines trained on {train_rows:,} salary rows. {machine_line()}. Interleaved 20 ms blocks, medians.",
        "`previous` is the embedded `Model.predict` at commit 9a4353c (plus `predict_proba` for the classifier, the",
        "second validated call an adapter needed); `infer` returns values, probabilities and the version in one pass.",
        "",
        "| pipeline | rows | raw pipeline.predict | previous | infer | infer / previous (floor <= 1.0) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        previous = f"{r['previous'] * 1e6:,.0f} µs" if "previous" in r else "—"
        ratio = f"{r['infer'] / r['previous']:.2f} ({'met' if r['infer'] <= r['previous'] * 1.0 else '**missed**'})" if "previous" in r else "—"
        lines.append(f"| {r['pipeline']} | {r['rows']:,} ({r['input']}) | {r['raw'] * 1e6:,.0f} µs | {previous} "
                     f"| {r['infer'] * 1e6:,.0f} µs ({r['raw'] / r['infer']:.1f}x raw) | {ratio} |")
    lines += [
        "",
        f"Swap stall: one thread predicting one dict in a loop ({stall['predictions']:,} predictions) while a LiveModel "
        f"swapped {stall['swaps']} versions (load, verify, smoke test in the background): longest gap between two "
        f"predictions {stall['swap_max'] * 1e3:.1f} ms during swaps (p99 {stall['swap_p99'] * 1e6:,.0f} µs), "
        f"against {stall['quiet_max'] * 1e3:.1f} ms in 0.5 s without swaps.",
    ]
    return "\n".join(lines) + "\n"


def main() -> str:
    """Run the benchmark and return its markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data and batches: a smoke run, not a measurement")
    quick = parser.parse_args().quick
    from mldeploy.examples import salary

    train_rows, batches, swaps = (3_000, (1, 64, 1_024), 3) if quick else (50_000, BATCHES, 10)
    rows = salary.generate(max(batches), seed=8).drop(columns=salary.TARGET)
    previous = previous_model_class()
    fitted = pipelines(train_rows)
    results = [r for name, pipeline, features in fitted for r in measure_calls(name, pipeline, features, rows, batches, previous)]
    stall = measure_swap_stall(fitted[0][1], fitted[0][2], swaps)
    return report(results, stall, train_rows)


if __name__ == "__main__":
    print(main())
