"""One full pass of the freshness loop on the salary example, each step's time and share.

salary@1 is trained on 50,000 rows and served by `mldeploy serve salary:production`; a relay
(`mldeploy publish salary:production --follow`) carries the alias to a Kafka topic an app
subscribes to. Drifted rows (drift=0.3) arrive and one `Loop.run_once()` runs drift → retrain
(on 50,000 rows) → gate → promote → fan-out; the pass ends when the server and the subscriber
both serve the new version. Setup (the first training, starting the services) is not timed.

Run: `.venv/bin/python benchmarks/bench_loop.py [--rows 50000] [--local]` (prints a markdown section;
`--local` uses a local log instead of a Kafka broker).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

SWAP_TIMEOUT_S = 600
CLI = [sys.executable, "-c", "from mldeploy.cli import main; main()"]
CHILDREN: list[subprocess.Popen] = []
"""The server and the relay: a wait ends at once when one of them has died."""


@contextmanager
def kafka_topic(local_folder: Path | None):
    """Yield a model topic URL: a local log, or a topic on a broker started here with the project's script."""
    if local_folder is not None:
        yield f"local://{local_folder}/log/models"
        return
    from bench_stream import kafka_broker

    with kafka_broker() as bootstrap:
        yield f"kafka://{bootstrap}/bench-loop-models"


@contextmanager
def process(*args: str, ready: str):
    """Run an mldeploy command until the block ends; yield the first stdout line matching ``ready``."""
    child = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"})
    CHILDREN.append(child)
    try:
        line = ""
        while not re.search(ready, line):
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                raise RuntimeError(f"mldeploy {' '.join(args)} exited with {child.returncode}")
        yield line
    finally:
        child.terminate()
        child.wait(60)


def wait_for(check, what: str) -> float:
    """Poll ``check`` until true; return the time it took."""
    started = time.perf_counter()
    while not check():
        for child in CHILDREN:
            if child.poll() is not None:
                raise RuntimeError(f"{' '.join(child.args[3:6])} exited with {child.returncode}: {child.stderr.read()[-2000:]}")
        if time.perf_counter() - started > SWAP_TIMEOUT_S:
            raise RuntimeError(f"{what} did not happen within {SWAP_TIMEOUT_S} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def server_version(url: str, row: dict) -> int | None:
    import httpx

    try:
        return httpx.post(f"{url}/predict/salary", json=row, timeout=10).json()["model_version"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="Rows of training and of retraining data.")
    parser.add_argument("--local", action="store_true", help="Publish to a local log instead of a Kafka broker.")
    options = parser.parse_args()

    from mldeploy.examples import salary
    from mldeploy.ops import Loop, load_config
    from mldeploy.ops.registering import train_and_register
    from mldeploy.registry import Registry
    from mldeploy.stream import subscribe

    with tempfile.TemporaryDirectory(prefix="mldeploy-bench-loop-") as scratch, ExitStack() as stack:
        work = Path(scratch)
        registry = stack.enter_context(Registry(root=work / "registry"))
        print(f"setup: training salary@1 on {options.rows:,} rows", file=sys.stderr)
        train_and_register(salary.generate(options.rows, seed=7), "salary", registry=registry, alias="production",
                           factory=salary.default_pipeline)
        salary.generate(options.rows, seed=8, drift=0.3).to_parquet(work / "current.parquet")
        holdout = salary.generate(max(1_000, options.rows // 5), seed=9, drift=0.3)
        holdout.to_parquet(work / "holdout.parquet")
        (work / "ops.toml").write_text('[model]\nname = "salary"\ntarget = "salary"\n[data]\n'
                                       'current = "current.parquet"\nholdout = "holdout.parquet"\n')
        row = {k: (None if v != v else v) for k, v in holdout.drop(columns="salary").iloc[0].to_dict().items()}
        topic = stack.enter_context(kafka_topic(work if options.local else None))
        stack.enter_context(process("--registry", str(work / "registry"), "publish", "salary:production", "--to", topic,
                                    "--follow", ready=r"published salary@1"))
        line = stack.enter_context(process("--registry", str(work / "registry"), "serve", "salary:production",
                                           "--port", "0", "--poll-interval", "0.2", ready=r"on http://"))
        url = re.search(r"on (http://\S+) ", line).group(1)
        app = stack.enter_context(subscribe(topic, "salary"))
        wait_for(lambda: server_version(url, row) == 1 and app.version == 1, "serving salary@1")

        print("timing one pass of the loop", file=sys.stderr)
        started = time.perf_counter()
        done = Loop(registry, load_config(work / "ops.toml"), actor="bench").run_once()
        if done.outcome != "promoted":
            raise SystemExit(f"the pass did not promote: {done.outcome}: {done.detail}")
        version = done.challenger.version
        steps = dict(done.seconds)
        swapped = both_swapped(lambda: server_version(url, row) == version, lambda: app.version == version)
        steps["until the server and the subscriber serve it"] = max(swapped.values())
        total = time.perf_counter() - started
    report(options, steps, total, done, swapped)


def both_swapped(server_done, subscriber_done) -> dict[str, float]:
    """Poll both at once; return the seconds until each served the new version, counted from now."""
    started, found = time.perf_counter(), {}
    while len(found) < 2:
        for name, check in (("server", server_done), ("subscriber", subscriber_done)):
            if name not in found and check():
                found[name] = time.perf_counter() - started
        if time.perf_counter() - started > SWAP_TIMEOUT_S:
            raise RuntimeError(f"not swapped within {SWAP_TIMEOUT_S} s: only {sorted(found)}")
        time.sleep(0.01)
    return found


def report(options, steps: dict, total: float, done, swapped: dict) -> None:
    """Print the pass as a markdown section: each step's seconds and share of the whole."""
    print(f"## Freshness loop: one full pass ({options.rows:,} rows, {'local log' if options.local else 'Kafka'})\n")
    print(machine_line() + "\n")
    print("| step | seconds | share |\n|---|---:|---:|")
    for name, seconds in steps.items():
        print(f"| {name} | {seconds:,.2f} | {seconds / total:.0%} |")
    print(f"| **whole pass** (drift found to both swapped) | **{total:,.2f}** | 100% |\n")
    print(f"Outcome: {done.outcome}: {done.detail}. After the fan-out, the server served it in "
          f"{swapped['server']:.2f} s (it polls the alias every 0.2 s) and the subscriber in {swapped['subscriber']:.2f} s "
          "(through the relay, which the change feed wakes).")


if __name__ == "__main__":
    main()
