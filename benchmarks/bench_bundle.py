"""Benchmark bundle creation against fitting the pipeline, for the tour's salary example.

Run: ``.venv/bin/python benchmarks/bench_bundle.py`` (``--quick`` for one round).
Each round runs in a fresh process, as ``mldeploy train`` does: it fits the default
salary pipeline on the tour's 2,000 rows, then makes the bundle (schema probes,
skops save and reload under the loader's trust, compiling and verifying against
scikit-learn on the sample, edge and infinite rows), imports included. Prints a
markdown section for benchmarks/RESULTS.md with the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

_ROUND = """
import json, time
from mldeploy.examples import salary
import mldeploy
train = salary.generate(rows={rows}, seed=7)
features = train.drop(columns="salary")
started = time.perf_counter(); pipeline = salary.default_pipeline().fit(features, train["salary"])
fit = time.perf_counter() - started
started = time.perf_counter(); mldeploy.Bundle.from_pipeline(pipeline, sample=features, name="salary")
first = time.perf_counter() - started
started = time.perf_counter(); mldeploy.Bundle.from_pipeline(pipeline, sample=features, name="salary")
print(json.dumps({{"fit": fit, "first": first, "again": time.perf_counter() - started}}))
"""


def measure(rows: int, rounds: int) -> dict[str, float]:
    """Median seconds of fit, the process's first bundle (imports included) and a second one."""
    runs = []
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-c", _ROUND.format(rows=rows)], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    rounds = 1 if parser.parse_args().quick else 5
    rows = 2_000
    timed = measure(rows, rounds)
    print("\n".join([
        "## Bundle creation against fitting (`benchmarks/bench_bundle.py`)",
        "",
        f"{machine_line()}. The default salary pipeline on the tour's {rows:,} rows, median of {rounds} fresh processes.",
        "",
        "| fit | bundle creation (first in the process, imports included) | bundle creation again |",
        "|---:|---:|---:|",
        f"| {timed['fit']:.2f} s | {timed['first']:.2f} s ({timed['first'] / timed['fit']:.1f}× the fit) "
        f"| {timed['again']:.2f} s ({timed['again'] / timed['fit']:.1f}× the fit) |",
    ]))


if __name__ == "__main__":
    main()
