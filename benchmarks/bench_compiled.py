"""Benchmark the compiled predictor against ``pipeline.predict`` in one process, on one and two threads.

Run: ``.venv/bin/python benchmarks/bench_compiled.py`` on a quiet machine (add ``--quick`` for a smoke run).
Prints a markdown section for benchmarks/RESULTS.md, for the salary pipeline
(HistGradientBoosting, scored with bit vectors) and a random-forest classifier
pipeline (walked), with ratios:

- one-row latency and rows/s at batch 1, 64, 1,024 and 65,536 from DataFrames and
  lists of dicts (the compiled form alone, one thread);
- bulk: ``Model.infer`` (validation and encoding included) at 8,192, 65,536 and
  262,144 rows with ``threads=1`` and ``threads=2``, beside ``pipeline.predict``
  (floors: >= 500,000 rows/s on one thread for the salary model; two threads
  >= 1.7x one from 65,536 rows).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _pipelines import pipelines  # noqa: E402
from _timing import machine_line, paired_medians, pin_threads  # noqa: E402

pin_threads()

import numpy as np  # noqa: E402

from mldeploy.compiled import compile_pipeline  # noqa: E402
from mldeploy.examples import salary  # noqa: E402

BATCHES = (1, 64, 1_024, 65_536)
BULK_ROWS = (8_192, 65_536, 262_144)


def measure(name: str, pipeline, sample, budget_s: float) -> list[dict]:
    """Time both predictors on the same rows; check they agree on the largest batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compile_pipeline(pipeline, sample.iloc[:2_000])
    compiled = result.compiled
    if compiled is None:
        raise SystemExit(f"{name}: not compiled: {[step.reason for step in result.plan]}")
    rows = salary.generate(max(BATCHES), seed=11).drop(columns=salary.TARGET)
    out = []
    for batch in BATCHES:
        frame = rows.iloc[:batch].reset_index(drop=True)
        records = frame.to_dict("records")
        expected = pipeline.predict(frame)
        exact = bool(np.array_equal(compiled.predict_frame(frame), expected)
                     and np.array_equal(compiled.predict_records(records), expected))
        timed = paired_medians({"sklearn": lambda: pipeline.predict(frame), "frame": lambda: compiled.predict_frame(frame),
                                "records": lambda: compiled.predict_records(records)}, budget_s=budget_s)
        out.append({"pipeline": name, "batch": batch, "exact": exact, **timed})
    return out


def measure_bulk(name: str, pipeline, sample, budget_s: float) -> list[dict]:
    """Time Model.infer on one and two threads against pipeline.predict; check all three agree."""
    from mldeploy.bundle import Bundle
    from mldeploy.serving import Model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = Bundle.from_pipeline(pipeline, sample, name="bench")
    one, two = Model(bundle, threads=1), Model(bundle, threads=2)
    rows = salary.generate(max(BULK_ROWS), seed=12).drop(columns=salary.TARGET)
    out = []
    for size in BULK_ROWS:
        frame = rows.iloc[:size].reset_index(drop=True)
        expected = pipeline.predict(frame)
        exact = bool(np.array_equal(one.infer(frame).values, expected) and np.array_equal(two.infer(frame).values, expected))
        timed = paired_medians({"sklearn": lambda: pipeline.predict(frame), "one": lambda: one.infer(frame),
                                "two": lambda: two.infer(frame)}, min_rounds=5, budget_s=budget_s)
        out.append({"pipeline": name, "rows": size, "exact": exact, "kernel": one.compiled._walker.kernel, **timed})
    return out


def report_bulk(results: list[dict]) -> str:
    """Return the bulk table: Model.infer rows/s on one and two threads, with ratios."""
    lines = [
        "",
        "`Model.infer` on DataFrames, validation and encoding included, `threads=1` and `threads=2` timed in "
        "interleaved blocks beside `pipeline.predict`:",
        "",
        "| pipeline (kernel) | rows | sklearn rows/s | one thread rows/s | vs sklearn | two threads rows/s | two / one | exact |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_row(f"{r['pipeline']} ({r['kernel']})", r["rows"], r, "one", "two", "one") for r in results]
    return "\n".join(lines)


def _row(label: str, rows: int, r: dict, first: str, second: str, second_against: str) -> str:
    """One table row: sklearn's rows/s, then two timings each with a ratio (the second's against ``second_against``)."""
    rate = {key: rows / r[key] for key in ("sklearn", first, second)}
    return (f"| {label} | {rows:,} | {rate['sklearn']:,.0f} | {rate[first]:,.0f} | {rate[first] / rate['sklearn']:.1f}x | "
            f"{rate[second]:,.0f} | {rate[second] / rate[second_against]:.2f}x | {'bit-identical' if r['exact'] else 'DIFFERS'} |")


def report(results: list[dict]) -> str:
    """Return the markdown section: one-row latency, then rows/s per batch, with ratios."""
    lines = [
        "## Compiled predictor (`benchmarks/bench_compiled.py`)",
        "",
        f"{machine_line()}. Ratios are compiled / `pipeline.predict` on the same rows, timed in interleaved blocks.",
        "",
        "| pipeline | batch | sklearn rows/s | compiled DataFrame rows/s | ratio | compiled dicts rows/s | ratio | exact |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_row(r["pipeline"], r["batch"], r, "frame", "records", "sklearn") for r in results]
    lines += ["", "| pipeline | `pipeline.predict`, one-row DataFrame | compiled, one dict | speed-up |", "|---|---:|---:|---:|"]
    for r in (r for r in results if r["batch"] == 1):
        lines.append(f"| {r['pipeline']} | {r['sklearn'] * 1e6:,.0f} µs | {r['records'] * 1e6:,.1f} µs | "
                     f"{r['sklearn'] / r['records']:.0f}x |")
    return "\n".join(lines)


def main() -> None:
    """Train both pipelines, time them, print the markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller training set and timing budget")
    args = parser.parse_args()
    results, bulk = [], []
    for name, pipeline, sample in pipelines(5_000 if args.quick else 20_000):
        results += measure(name, pipeline, sample, 0.3 if args.quick else 2.0)
        bulk += measure_bulk(name, pipeline, sample, 0.5 if args.quick else 4.0)
    print(report(results))
    print(report_bulk(bulk))


if __name__ == "__main__":
    main()
