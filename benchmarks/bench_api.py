"""The model API under load: wrk against `mldeploy serve` (`/predict` and V2 JSON `/infer`), a naive FastAPI
endpoint, the bare Starlette route and the raw ASGI ceiling; ghz against the same `mldeploy serve` over gRPC
and the bare grpc.aio ceiling.

Run: `make bench-api` (or `.venv/bin/python benchmarks/bench_api.py [--quick] [--write]`). Needs wrk
(`apt-get install wrk`), ghz (`go install`, see the Makefile), taskset and py-spy. Every server runs one
worker pinned to core 0; wrk and ghz (one thread each) are pinned to core 1. Single-row JSON requests, and
single-row ModelInfer calls (raw tensors, as tritonclient sends), for the salary pipeline at concurrency 1, 8 and 64,
then one 10,000-row request through the V2 binary tensor extension against the in-process serving core on
the same rows, and a py-spy flame graph of the server at concurrency 64 (benchmarks/api-flamegraph.svg).
The server's /metrics give the calls per micro-batch at each level and the garbage collector's generation-2
pauses during the run; an in-process measurement gives the crossover, the number of requests arriving
together from which one shared batch costs less than predicting each alone.
Prints a markdown section; ``--write`` also puts it into RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _api_batching import crossover, crossover_size, longest_pause_bound, scrape  # noqa: E402
from _ghz import ghz, ghz_path, request_file  # noqa: E402
from _timing import machine_line, pin_threads  # noqa: E402

REPO = HERE.parent
LEVELS = (1, 8, 64)
KINDS = ("mldeploy", "mldeploy-v2", "naive", "bare", "raw")
"""HTTP targets: `mldeploy serve` twice (/predict and V2 JSON /infer, one process) and the three references."""
GRPC_KINDS = ("mldeploy-grpc", "bare-grpc")
SERVERS = ("mldeploy", "naive", "bare", "raw", "bare-grpc")
SERVER_CORE, LOAD_CORE = "0", "1"
FLAME = HERE / "api-flamegraph.svg"
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(workdir: Path, train_rows: int):
    """Train the salary pipeline, register it as salary:production; return (bundle, one row, 10,000 rows)."""
    from mldeploy.bundle import Bundle
    from mldeploy.examples import salary
    from mldeploy.registry import Registry

    train = salary.generate(train_rows, seed=7)
    features = train.drop(columns=salary.TARGET)
    pipeline = salary.default_pipeline().fit(features, train[salary.TARGET])
    with Registry(root=workdir / "registry") as registry:
        ref = registry.register(Bundle.from_pipeline(pipeline, features, name="salary", directory=workdir / "build"))
        registry.set_alias(ref, "production")
        bundle = registry.get(ref)
    rows = salary.generate(10_000, seed=9).drop(columns=salary.TARGET)
    one = {k: (None if v != v else v) for k, v in rows.iloc[0].to_dict().items()}
    return bundle, one, rows


def v2_body(one: dict, schema) -> bytes:
    """A V2 JSON inference request for one row: one typed tensor per field (null marks a missing value)."""
    import orjson

    from mldeploy.api import tensors

    inputs = [{"name": field.name, "datatype": tensors.tensor_datatype(field), "shape": [1], "data": [one[field.name]]}
              for field in schema.fields]
    return orjson.dumps({"inputs": inputs})


def start(kind: str, workdir: Path, bundle_dir: str, options: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, str | None]:
    """Start one server pinned to SERVER_CORE; return (process, predict URL, gRPC address or None) once it answers.

    ``options`` go to `mldeploy serve` (the live-traffic variants: ``--log-to``, ``--shadow``).
    """
    import httpx

    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO / "src")), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if kind == "bare-grpc":
        return _start_bare_grpc(port, env)
    if kind == "mldeploy":
        command = ["-c", "from mldeploy.cli import main; main()", "--registry", str(workdir / "registry"), "serve",
                   "salary:production", "--port", str(port), "--grpc-port", str(grpc_port), *options]
        url, ready = f"http://127.0.0.1:{port}/predict/salary", f"http://127.0.0.1:{port}/v2/health/ready"
    else:
        command = [str(HERE / "_api_references.py"), kind, str(port), bundle_dir]
        url = ready = f"http://127.0.0.1:{port}/predict"
    process = subprocess.Popen(["taskset", "-c", SERVER_CORE, sys.executable, *command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            answer = httpx.get(ready) if kind == "mldeploy" else httpx.post(ready, json={})
            if kind != "mldeploy" or answer.status_code == 200:  # the references are ready once they answer at all
                return process, url, f"127.0.0.1:{grpc_port}" if kind == "mldeploy" else None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()  # not in the caller's list of servers yet: nobody else would stop it
    process.wait(30)
    raise SystemExit(f"{kind} server not ready after 300 s")


def _start_bare_grpc(port: int, env: dict) -> tuple[subprocess.Popen, None, str]:
    """Start the bare grpc.aio reference; ready once its port accepts a connection."""
    process = subprocess.Popen(["taskset", "-c", SERVER_CORE, sys.executable, str(HERE / "_api_references.py"), "bare-grpc", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bare-grpc server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, None, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    raise SystemExit("bare-grpc server not ready after 120 s")


def wrk(url: str, body: str, connections: int, duration_s: int, script_dir: Path) -> dict:
    """Run wrk pinned to LOAD_CORE; return req/s, p50 and p99 in seconds, and errors."""
    script = script_dir / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = [[{body}]]\n")
    done = subprocess.run(["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency",
                           "-s", str(script), url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict:
    """Read req/s, p50, p99 and errors (non-2xx plus socket errors) from wrk's output."""
    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(value) * _UNITS[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), "p50": latency("50"),
            "p99": latency("99"), "errors": errors, "requests": int(re.search(r"(\d+) requests in", text).group(1))}


def flamegraph(pid: int, url: str, body: str, duration_s: int, script_dir: Path) -> None:
    """Record a py-spy flame graph of the server while wrk holds concurrency 64."""
    spy = subprocess.Popen(["taskset", "-c", LOAD_CORE, _tool("py-spy"), "record", "--pid", str(pid), "--duration", str(duration_s),
                            "--rate", "200", "--nonblocking", "--format", "flamegraph", "-o", str(FLAME)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wrk(url, body, 64, duration_s + 1, script_dir)
    if spy.wait(60) != 0:
        print(f"py-spy failed: {spy.stderr.read().decode()[-500:]}", file=sys.stderr)
    elif FLAME.exists():
        _relative_paths(FLAME)


def _relative_paths(svg: Path) -> None:
    """Name files in the flame graph relative to the checkout and to site-packages, not by this machine's paths."""
    import site
    import sysconfig

    text = svg.read_text()
    prefixes = {path: "site-packages" for path in [sysconfig.get_paths()["purelib"], *site.getsitepackages()]}
    prefixes |= {sysconfig.get_paths()["stdlib"]: "python", str(REPO.resolve()): "."}
    for prefix, shown in sorted(prefixes.items(), key=lambda item: -len(item[0])):
        text = text.replace(prefix + "/", shown + "/")
    svg.write_text(text)


def binary_request(rows, schema) -> tuple[bytes, str]:
    """A V2 request carrying ``rows`` as binary tensors (empty text and NaN mark missing values)."""
    import numpy as np
    import orjson

    from mldeploy.api import tensors

    inputs, blobs = [], []
    for field in schema.fields:
        column = rows[field.name]
        datatype = tensors.tensor_datatype(field)
        if datatype == "BYTES":
            texts = [b"" if v is None or v != v else str(v).encode() for v in column.tolist()]
            blob = b"".join(struct.pack("<I", len(t)) + t for t in texts)
        else:
            if datatype != "FP64" and column.isna().any():
                datatype = "FP64"  # no null in INT64/BOOL tensors: NaN in FP64 marks missing
            dtype = {"FP64": "<f8", "INT64": "<i8", "BOOL": "?"}[datatype]
            blob = np.ascontiguousarray(column.to_numpy(dtype=dtype)).tobytes()
        inputs.append({"name": field.name, "datatype": datatype, "shape": [len(rows)],
                       "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    head = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return head + b"".join(blobs), str(len(head))


def large_request(base: str, bundle, rows, repeats: int) -> dict:
    """Rows/s of one 10,000-row binary V2 request (client on LOAD_CORE) and of the in-process core (on SERVER_CORE)."""
    import httpx

    from mldeploy.serving import Model

    model = Model(bundle)
    os.sched_setaffinity(0, {int(SERVER_CORE)})
    model.infer(rows, missing="as-trained")
    local = statistics.median(_timed(lambda: model.infer(rows, missing="as-trained")) for _ in range(repeats))
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    body, header = binary_request(rows, model.schema)
    headers = {"inference-header-content-length": header, "content-type": "application/octet-stream"}
    with httpx.Client(timeout=60) as client:
        def call():
            answer = client.post(f"{base}/v2/models/salary/infer", content=body, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"10,000-row request failed: {answer.status_code} {answer.text[:300]}")

        call()
        remote = statistics.median(_timed(call) for _ in range(repeats))
    return {"rows": len(rows), "local": len(rows) / local, "remote": len(rows) / remote, "bytes": len(body)}


def _tool(name: str) -> str:
    """A command on PATH, or installed next to this Python (py-spy from PyPI lands in the venv's bin)."""
    return shutil.which(name) or str(Path(sys.executable).with_name(name))


def _timed(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def rss_mib(pid: int) -> float:
    """Resident memory of the server's python process (the child of taskset's exec: same pid)."""
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def measure(args, workdir: Path) -> dict:
    """Start the servers (idle ones cost nothing), load them with wrk and ghz in interleaved rounds, then the extras.

    Each round runs every level against every target in turn, so drifting load from other work on
    the machine hits all alike; each cell is the median over the rounds (errors are summed).
    """
    import orjson

    bundle, one, rows = build(workdir, args.train_rows)
    body = orjson.dumps(one).decode()
    call = request_file(one, workdir / "infer.bin")
    servers = {}
    try:
        for kind in SERVERS:
            servers[kind] = start(kind, workdir, str(bundle.path))
        base = servers["mldeploy"][1].rsplit("/predict", 1)[0]
        http = {kind: (servers[kind][1], body) for kind in ("mldeploy", "naive", "bare", "raw")}
        http["mldeploy-v2"] = (f"{base}/v2/models/salary/infer", v2_body(one, bundle.schema).decode())
        targets = {"mldeploy-grpc": servers["mldeploy"][2], "bare-grpc": servers["bare-grpc"][2]}
        rounds: dict = {kind: {c: [] for c in LEVELS} for kind in (*KINDS, *GRPC_KINDS)}
        batches: dict = {kind: {c: [] for c in LEVELS} for kind in ("mldeploy", "mldeploy-v2", "mldeploy-grpc")}
        for url, text in http.values():
            wrk(url, text, 8, 2, workdir)  # warm up: first requests pay lazy imports and caches
        pace = {kind: ghz(target, call, 8, 2000, LOAD_CORE)["rps"] for kind, target in targets.items()}  # warm up, and size runs
        first = scrape(base)
        for _ in range(args.rounds):
            for c in LEVELS:
                for kind in KINDS:
                    _timed_run(kind, c, rounds, batches, base, lambda: wrk(*http[kind], c, args.duration, workdir))
                for kind, target in targets.items():
                    calls = int(pace[kind] * args.duration * (0.6 if c == 1 else 1))
                    _timed_run(kind, c, rounds, batches, base, lambda: ghz(target, call, c, calls, LOAD_CORE))
        last = scrape(base)
        results = {"load": {kind: {c: _median(runs) for c, runs in levels.items()} for kind, levels in rounds.items()},
                   "batching": {kind: {c: statistics.median(v) for c, v in levels.items()} for kind, levels in batches.items()},
                   "gc": {"pauses": last["gc2"] - first["gc2"], "seconds": last["gc2_s"] - first["gc2_s"],
                          "longest": longest_pause_bound(first, last)},
                   "rss": {kind: rss_mib(process.pid) for kind, (process, _, _) in servers.items()}}
        process, url, _ = servers["mldeploy"]
        flamegraph(process.pid, url, body, args.duration, workdir)
        results["large"] = large_request(base, bundle, rows, args.repeats)
        os.sched_setaffinity(0, {int(SERVER_CORE)})
        results["crossover"] = crossover(bundle, one)
        return results
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(30)


def _timed_run(kind: str, c: int, rounds: dict, batches: dict, base: str, run) -> None:
    """Run one load level; for `mldeploy serve`, also note the calls per micro-batch it made meanwhile."""
    before = scrape(base)["batches"] if kind in batches else 0.0
    result = run()
    rounds[kind][c].append(result)
    if kind in batches:
        made = scrape(base)["batches"] - before
        batches[kind][c].append(result["requests"] / made if made else float("nan"))


def _median(runs: list[dict]) -> dict:
    merged = {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99")}
    return merged | {"errors": sum(run["errors"] for run in runs)}


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def _load_table(load: dict, names: dict, kinds, levels) -> list[str]:
    """The markdown table of req/s, p50, p99 and errors per server and concurrency."""
    lines = ["| server | concurrency | req/s | p50 | p99 | errors |", "|---|---:|---:|---:|---:|---:|"]
    for kind in kinds:
        for c in levels:
            r = load[kind][c]
            lines.append(f"| {names[kind]} | {c} | {r['rps']:,.0f} | {_ms(r['p50'])} | {_ms(r['p99'])} | {r['errors']} |")
    return lines


def report(results: dict, args) -> str:
    """Return the markdown section: the table, the floors as ratios, batching, the collector, the large request and memory."""
    load = results["load"]
    names = {"mldeploy": "`mldeploy serve` `/predict`", "mldeploy-v2": "`mldeploy serve` V2 JSON `/infer`",
             "naive": "naive FastAPI", "bare": "bare Starlette route + orjson", "raw": "raw ASGI app",
             "mldeploy-grpc": "`mldeploy serve` gRPC", "bare-grpc": "bare grpc.aio"}
    lines = ["## Model API (`benchmarks/bench_api.py`)", "",
             f"{machine_line()}. Salary pipeline trained on {args.train_rows:,} rows; single-row JSON requests "
             f"(`POST /predict/salary`, V2 JSON `POST /v2/models/salary/infer` with one typed tensor per field, references "
             f"`POST /predict`). Each server: one uvicorn worker pinned to core {SERVER_CORE}; wrk (1 thread) pinned to core "
             f"{LOAD_CORE}; {args.rounds} interleaved rounds of {args.duration} s per target and level, medians. gRPC: the same "
             "`mldeploy serve` process (`--grpc-port`), single-row `ModelInfer` calls with raw tensors (as tritonclient "
             f"sends them), ghz (1 thread, one HTTP/2 connection) pinned to core {LOAD_CORE}, interleaved with wrk in the "
             "same rounds; the bare grpc.aio reference answers a constant. Reproduce: `make bench-api`, with nothing "
             "else running on the machine.",
             "", "| server | concurrency | req/s | p50 | p99 | errors |", "|---|---:|---:|---:|---:|---:|"]
    for kind in ("mldeploy", "mldeploy-v2", "mldeploy-grpc", "naive", "bare", "raw", "bare-grpc"):
        for c in LEVELS:
            r = load[kind][c]
            lines.append(f"| {names[kind]} | {c} | {r['rps']:,.0f} | {_ms(r['p50'])} | {_ms(r['p99'])} | {r['errors']} |")
    lines += ["", "| floor | this run | met |", "|---|---:|---|"]
    lines += [f"| {what} | {value} | {'met' if ok else '**not met**'} |" for what, value, ok in floors(results)]
    batching, gc = results["batching"], results["gc"]
    lines += ["", "Calls per micro-batch (requests over batches the server made, from its /metrics): "
              + "; ".join(f"{names[kind]} " + ", ".join(f"c={c} {batching[kind][c]:.2f}" for c in LEVELS) for kind in batching)
              + ". A gRPC call that finds no other request queued or running predicts at once; grpc.aio starts one "
              "call per turn of the event loop, so gRPC calls seldom find company at any level.",
              _crossover_line(results["crossover"]),
              f"Garbage collector in `mldeploy serve` during the load rounds: generation-2 collections {gc['pauses']:.0f}, "
              f"{gc['seconds'] * 1e3:.1f} ms in all" + (f", the longest under {_ms(gc['longest'])}." if gc["longest"] else ".")]
    ours, naive, large = load["mldeploy"], load["naive"], results["large"]
    ours_grpc, bare_grpc, bare = load["mldeploy-grpc"], load["bare-grpc"], load["bare"]
    lines += [f"gRPC against its own ceiling: {ours_grpc[64]['rps'] / bare_grpc[64]['rps']:.0%} of the bare grpc.aio "
              f"server's req/s at c=64, which is itself {bare_grpc[64]['rps'] / bare[64]['rps']:.0%} of the bare "
              f"Starlette route's; p50 at c=1 {_ms(ours_grpc[1]['p50'])} (REST {_ms(ours[1]['p50'])}).",
              f"Against the naive endpoint: {ours[64]['rps'] / naive[64]['rps']:,.0f}× the req/s at c=64, "
              f"p50 at c=1 {_ms(ours[1]['p50'])} vs {_ms(naive[1]['p50'])}.",
              f"10,000 rows in one binary V2 request ({large['bytes'] / 1e6:.1f} MB): {large['remote']:,.0f} rows/s over HTTP "
              f"vs {large['local']:,.0f} rows/s for `Model.infer` on the same DataFrame in-process (medians of {args.repeats}).",
              "Memory of one worker after the run (RSS): " + ", ".join(f"{names[k]} {v:,.0f} MiB" for k, v in results["rss"].items()) + ".",
              f"Flame graph of the server at c=64: `benchmarks/{FLAME.name}` (py-spy, {args.duration} s)."]
    return "\n".join(lines)


def floors(results: dict) -> list[tuple[str, str, bool]]:
    """Each floor (issues 26 and 27) as (what, this run's figure, met)."""
    load, large = results["load"], results["large"]
    ours, v2, bare = load["mldeploy"], load["mldeploy-v2"], load["bare"]
    ours_grpc, bare_grpc = load["mldeploy-grpc"], load["bare-grpc"]
    errors = sum(r["errors"] for kind in ("mldeploy", "mldeploy-v2") for r in load[kind].values())
    grpc_errors = sum(r["errors"] for r in ours_grpc.values())
    share = large["remote"] / large["local"]
    ratio = {"p50": ours[1]["p50"] / bare[1]["p50"], "rps": ours[64]["rps"] / bare[64]["rps"],
             "p99": ours[64]["p99"] / bare[64]["p99"], "v2_rps": v2[64]["rps"] / bare[64]["rps"],
             "v2_p99": v2[64]["p99"] / bare[64]["p99"], "grpc_rps": ours_grpc[64]["rps"] / bare_grpc[64]["rps"],
             "grpc_p99": ours_grpc[64]["p99"] / bare_grpc[64]["p99"], "grpc_p50": ours_grpc[1]["p50"] / bare_grpc[1]["p50"]}
    return [
        ("`/predict` c=1 p50 ≤ 2.5× bare route's", f"{ratio['p50']:.2f}×", ratio["p50"] <= 2.5),
        ("`/predict` c=64 req/s ≥ 40% of bare route's", f"{ratio['rps']:.0%}", ratio["rps"] >= 0.4),
        ("`/predict` c=64 p99 ≤ 2× bare route's", f"{ratio['p99']:.2f}×", ratio["p99"] <= 2),
        ("V2 JSON `/infer` c=64 req/s ≥ 80% of bare route's", f"{ratio['v2_rps']:.0%}", ratio["v2_rps"] >= 0.8),
        ("V2 JSON `/infer` c=64 p99 ≤ 2× bare route's", f"{ratio['v2_p99']:.2f}×", ratio["v2_p99"] <= 2),
        ("zero errors (`/predict` and `/infer`, every level)", str(errors), errors == 0),
        ("gRPC c=64 req/s ≥ 50% of bare grpc.aio's", f"{ratio['grpc_rps']:.0%}", ratio["grpc_rps"] >= 0.5),
        ("gRPC c=64 p99 ≤ 3× bare grpc.aio's", f"{ratio['grpc_p99']:.2f}×", ratio["grpc_p99"] <= 3),
        ("gRPC c=1 p50 ≤ 1.5× bare grpc.aio's", f"{ratio['grpc_p50']:.2f}×", ratio["grpc_p50"] <= 1.5),
        ("zero errors (gRPC, every level)", str(grpc_errors), grpc_errors == 0),
        ("10,000-row binary V2 request ≥ 50% of the in-process core's rows/s", f"{share:.0%}", share >= 0.5),
    ]


def _crossover_line(table: list[tuple[int, float, float]]) -> str:
    size = crossover_size(table)
    cells = ", ".join(f"k={k} {alone:.1f} / {together:.1f}" for k, alone, together in table)
    verdict = (f"one shared batch costs less per call from k={size} requests arriving together" if size
               else f"a shared batch never cost less up to k={table[-1][0]}")
    return (f"Crossover (in-process, core {SERVER_CORE}, CPU µs per call for k single-row requests in one turn of the loop, "
            f"each predicted alone at once / all in one micro-batch): {cells}; {verdict}.")


LIVE_KINDS = ("plain", "log", "shadow")
LIVE_LEVELS = (1, 64)


def measure_live(args, workdir: Path) -> dict:
    """The same `mldeploy serve` plain, logging every prediction to PostgreSQL, and with a shadow challenger.

    The three servers run at once (idle ones cost nothing) and are loaded in interleaved rounds, as above.
    The challenger is the same pipeline registered again (salary@2, aliased staging): the shadow doubles the
    model work, as a real challenger would. PostgreSQL is a throwaway cluster (scripts/postgres.sh) on a free port,
    pinned to the load core.
    """
    import httpx
    import orjson

    from mldeploy.registry import Registry

    bundle, one, _ = build(workdir, args.train_rows)
    with Registry(root=workdir / "registry") as registry:
        registry.set_alias(registry.register(bundle), "staging")
    body = orjson.dumps(one | {"listing_id": "L1"}).decode()
    pg_dir, pg_port = Path(tempfile.mkdtemp(prefix="bench-pg-")), free_port()
    # On the load core, beside wrk: in production the database has a machine of its own, and its work
    # here is no part of the server's (before 2026-12-06 it ran unpinned, on either core).
    subprocess.run(["taskset", "-c", LOAD_CORE, str(REPO / "scripts" / "postgres.sh"), "start", str(pg_dir), str(pg_port)],
                   check=True)
    log_url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
    options = {"plain": ("--log-key", "listing_id"), "log": ("--log-to", log_url, "--log-key", "listing_id"),
               "shadow": ("--shadow", "salary:staging", "--log-key", "listing_id")}
    servers = {}
    try:
        for kind in LIVE_KINDS:
            servers[kind] = start("mldeploy", workdir, str(bundle.path), options[kind])
        rounds: dict = {kind: {c: [] for c in LIVE_LEVELS} for kind in LIVE_KINDS}
        for kind, (_, url, _) in servers.items():
            wrk(url, body, 8, 2, workdir)  # warm up
        for _ in range(args.rounds):
            for c in LIVE_LEVELS:
                for kind, (_, url, _) in servers.items():
                    rounds[kind][c].append(wrk(url, body, c, args.duration, workdir))
        metrics = httpx.get(servers["log"][1].rsplit("/predict", 1)[0] + "/metrics").text
        dropped = float(re.search(r"^mldeploy_prediction_log_dropped_rows (\S+)$", metrics, re.M).group(1))
        shadowed = httpx.get(servers["shadow"][1].rsplit("/predict", 1)[0] + "/metrics").text
        outcomes = {outcome: int(float(count)) for outcome, count in re.findall(
            r'^mldeploy_api_shadow_predictions_total\{[^}]*outcome="(\w+)"[^}]*\} (\S+)$', shadowed, re.M)}
        # rounds are interleaved: each round's ratio to plain compares servers measured side by side
        paired = {kind: statistics.median(run["rps"] / base["rps"] for run, base in zip(rounds[kind][64], rounds["plain"][64]))
                  for kind in LIVE_KINDS}
        return {"load": {kind: {c: _median(runs) for c, runs in levels.items()} for kind, levels in rounds.items()},
                "paired_c64": paired, "dropped": int(dropped), "shadow_outcomes": outcomes}
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(30)
        subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", str(pg_dir)], check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)


def report_live(results: dict, args) -> str:
    """Return the live-traffic section: plain vs logging to PostgreSQL vs shadow, and the issue's floors."""
    load = results["load"]
    names = {"plain": "`serve`", "log": "`serve --log-to postgresql://…`", "shadow": "`serve --shadow salary:staging`"}
    lines = ["## Model API with live traffic (`benchmarks/bench_api.py --live-traffic`)", "",
             f"{machine_line()}. The same single-row `POST /predict/salary` as above (with a `listing_id` log key), "
             f"three servers pinned to core {SERVER_CORE} measured in the same {args.rounds} interleaved rounds of "
             f"{args.duration} s; wrk and PostgreSQL pinned to core {LOAD_CORE}.",
             ""] + _load_table(load, names, LIVE_KINDS, LIVE_LEVELS)
    plain, logged, shadow = load["plain"], load["log"], load["shadow"]
    log_share, shadow_share = results["paired_c64"]["log"], results["paired_c64"]["shadow"]
    shadow_p50 = shadow[1]["p50"] / plain[1]["p50"]
    log_errors = sum(r["errors"] for r in logged.values())
    live_floors = [
        ("logging to PostgreSQL: c=64 req/s ≥ 85% of plain", f"{log_share:.0%}", log_share >= 0.85),
        ("logging: zero errors, nothing dropped", f"{log_errors} errors, {results['dropped']} dropped",
         log_errors == 0 and results["dropped"] == 0),
        ("shadow: c=1 p50 ≤ 1.2× plain", f"{shadow_p50:.2f}×", shadow_p50 <= 1.2),
        ("shadow: c=64 req/s ≥ 50% of plain", f"{shadow_share:.0%}", shadow_share >= 0.5),
    ]
    lines += ["", "Req/s shares at c=64 are the median of each round's ratio to plain (servers measured side by side)."]
    lines += ["", "| floor | this run | met |", "|---|---:|---|"]
    lines += [f"| {what} | {value} | {'met' if ok else '**not met**'} |" for what, value, ok in live_floors]
    outcomes = results["shadow_outcomes"]
    lines += ["", "Shadow requests by outcome over the whole run (from the server's /metrics): "
              + (", ".join(f"{outcome} {count:,}" for outcome, count in sorted(outcomes.items())) or "none") + "."]
    return "\n".join(lines)


def write_results(section: str) -> None:
    """Put the section into RESULTS.md, replacing an earlier one of the same title."""
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(section.splitlines()[0] + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    path.write_text(text.rstrip() + "\n\n" + section + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training rows and shorter runs")
    parser.add_argument("--write", action="store_true", help="also write the section into RESULTS.md")
    parser.add_argument("--live-traffic", action="store_true", help="measure instead `serve` plain, logging to "
                        "PostgreSQL and with a shadow challenger (needs scripts/postgres.sh install)")
    args = parser.parse_args()
    args.train_rows, args.duration, args.repeats, args.rounds = (10_000, 3, 5, 1) if args.quick else (50_000, 6, 15, 3)
    for tool in ("wrk", "taskset", "py-spy"):
        if not Path(_tool(tool)).exists():
            raise SystemExit(f"{tool} is needed: apt-get install wrk (taskset: util-linux); pip install py-spy")
    if ghz_path() is None:
        raise SystemExit("ghz is needed for the gRPC rows: make bench-api installs it with go install")
    pin_threads()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as workdir:
        if args.live_traffic:
            section = report_live(measure_live(args, Path(workdir)), args)
        else:
            section = report(measure(args, Path(workdir)), args)
    print(section)
    if args.write:
        write_results(section)


if __name__ == "__main__":
    main()
