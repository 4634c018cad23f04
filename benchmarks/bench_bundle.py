"""Benchmark bundle creation against fitting the pipeline, for the tour's salary example.

Run: ``.venv/bin/python benchmarks/bench_bundle.py`` (``--quick`` for one round;
``--unpinned`` adds a row with OpenMP's own thread count, as ``mldeploy train`` runs).
Each round runs in a fresh process, as ``mldeploy train`` does: it fits the default
salary pipeline on the tour's 2,000 rows, then makes the bundle (schema probes,
skops save and reload under the loader's trust, compiling and verifying against
scikit-learn on the sample, edge and infinite rows), imports included. Prints a
markdown section for benchmarks/RESULTS.md with the medians.

The fit is one wall-clock ``fit`` of the default salary pipeline on all 2,000 rows, the
process's first. Each side's first time in a fresh process is measured too: the first fit
with the import of the scikit-learn modules the pipeline is made of, and the first
creation with what it imports (skops, numba's kernels, onnxruntime). ``mldeploy train`` fits the same pipeline on its 80% training split
(1,600 rows) with OpenMP's own thread count, then the error model on the other 400,
and bundles the 1,600: the "OpenMP's own" row is the one to set against it, and on a
busy machine its fit swings widely (OpenMP's threads wait on each other).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

_ROUND = """
import json, time
started = time.perf_counter()  # what the default pipeline is made of, as a script that fits it imports first
import sklearn.compose, sklearn.ensemble, sklearn.feature_selection, sklearn.impute, sklearn.pipeline, sklearn.preprocessing
fit_imports = time.perf_counter() - started
from mldeploy.examples import salary
import mldeploy
train = salary.generate(rows={rows}, seed=7)
features = train.drop(columns="salary")
started = time.perf_counter(); pipeline = salary.default_pipeline().fit(features, train["salary"])
fit = time.perf_counter() - started
started = time.perf_counter(); mldeploy.Bundle.from_pipeline(pipeline, sample=features, name="salary")
first = time.perf_counter() - started
again = []
for _ in range(3):
    started = time.perf_counter(); mldeploy.Bundle.from_pipeline(pipeline, sample=features, name="salary")
    again.append(time.perf_counter() - started)
print(json.dumps({{"fit": fit, "fit_cold": fit_imports + fit, "first": first, "again": sorted(again)[1]}}))
"""


def measure(rows: int, rounds: int, pinned: bool = True) -> dict[str, float]:
    """Median seconds of fit (alone, and with the imports of what it fits), the process's first bundle (imports
    included) and later ones (each process's median of 3).

    ``pinned=False`` leaves the thread count to OpenMP (fit and creation alike), as the command line does.
    """
    env = dict(os.environ)
    if not pinned:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
    runs = []
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-c", _ROUND.format(rows=rows)], capture_output=True, text=True,
                              check=True, env=env)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--unpinned", action="store_true", help="also measure with OpenMP's own thread count")
    arguments = parser.parse_args()
    rounds = 1 if arguments.quick else 5
    rows = 2_000
    cases = [("one", measure(rows, rounds))]
    if arguments.unpinned:
        cases.append(("OpenMP's own", measure(rows, rounds, pinned=False)))
    print("\n".join([
        "## Bundle creation against fitting (`benchmarks/bench_bundle.py`)",
        "",
        f"{machine_line()}. The default salary pipeline on the tour's {rows:,} rows, median of {rounds} fresh processes."
        + (" \"OpenMP's own\": no thread count set, for the fit and the creation alike, as `mldeploy train` runs"
           " (creation then uses one thread itself)." if arguments.unpinned else ""),
        "",
        "| threads | fit | bundle creation again | first fit, scikit-learn's imports included "
        "| first bundle creation, its imports included |",
        "|---|---:|---:|---:|---:|",
        *(f"| {threads} | {timed['fit']:.3f} s | {timed['again']:.3f} s ({timed['again'] / timed['fit']:.2f}× the fit) "
          f"| {timed['fit_cold']:.2f} s | {timed['first']:.2f} s ({timed['first'] / timed['fit_cold']:.2f}× the first fit) |"
          for threads, timed in cases),
    ]))


if __name__ == "__main__":
    main()
