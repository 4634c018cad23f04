"""Run every benchmark and write benchmarks/RESULTS.md.

Run: `make bench` (or `.venv/bin/python benchmarks/run.py [--quick]`). The model
API's load test has its own target, `make bench-api` (it needs wrk). Each
benchmark runs in its own process, so one's threads and caches don't touch
another's. Speed is reported as ratios against the in-process limit: the
pipeline's own `predict` on the same rows in the same process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ["bench_embedded.py", "bench_compiled.py", "bench_bundle.py", "bench_serving.py", "bench_stream.py",
              "bench_batch.py", "bench_careers.py"]


def main() -> None:
    """Run each benchmark script and collect its markdown into RESULTS.md."""
    quick = "--quick" in sys.argv[1:]
    sections = []
    for script in BENCHMARKS:
        started = time.perf_counter()
        print(f"running {script} ...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *(["--quick"] if quick else [])],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{script} failed:\n{done.stderr[-3000:]}")
        sections.append(done.stdout.strip())
        print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (`benchmarks/run.py{' --quick' if quick else ''}`) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Ratios are against the pipeline's own `predict` "
        "on the same rows in the same process; the machine is shared, so expect a few percent of noise.\n"
    )
    out = HERE / ("RESULTS-quick.md" if quick else "RESULTS.md")
    out.write_text(header + "\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
