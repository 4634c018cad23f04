"""gRPC load for bench_api.py: ghz (one thread, one HTTP/2 connection) sending one serialized ModelInfer request.

ghz runs a fixed number of calls (``-n``, sized from a warm-up so a level lasts
about as long as wrk's), not a duration: a duration cuts the calls in flight
at the end and ghz counts them as errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from mldeploy.api.grpc import messages

CALL = f"{messages.SERVICE}.ModelInfer"


def ghz_path() -> str | None:
    """ghz on PATH or where `go install` puts it."""
    found = shutil.which("ghz")
    if found:
        return found
    for folder in (Path.home() / "go" / "bin", Path("/root/go/bin")):
        if (folder / "ghz").exists():
            return str(folder / "ghz")
    return None


def request_file(row: dict, path: Path) -> Path:
    """Write one single-row ModelInfer request for salary (raw tensors, as tritonclient sends) to ``path``."""
    from mldeploy.api.grpc.records import infer_request

    path.write_bytes(infer_request(messages.message("ModelInferRequest")(), "salary", [row], "reject", []).SerializeToString())
    return path


def ghz(target: str, request: Path, concurrency: int, calls: int, core: str) -> dict:
    """Run ghz pinned to ``core``; return req/s, p50 and p99 in seconds, errors and calls, as parse_wrk does."""
    command = ["taskset", "-c", core, ghz_path(), "--insecure", "--protoset", str(messages.DESCRIPTOR_SET), "--call", CALL,
               "-B", str(request), "-c", str(concurrency), "-n", str(max(calls, concurrency)), "--cpus", "1", "-O", "json", target]
    report = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    latency = {entry["percentage"]: entry["latency"] / 1e9 for entry in report.get("latencyDistribution") or ()}
    ok = report["statusCodeDistribution"].get("OK", 0)
    return {"rps": report["rps"], "p50": latency.get(50, float("nan")), "p99": latency.get(99, float("nan")),
            "errors": report["count"] - ok, "requests": report["count"]}
