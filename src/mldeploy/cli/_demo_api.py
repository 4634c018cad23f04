"""The demo's dedicated-model-API step: serve the alias on free local ports (REST and gRPC), call it both ways, move the alias, see the swap."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from mldeploy.cli.app import console
from mldeploy.errors import BackendError

_START_TIMEOUT_S = 180.0


def api_step(registry, later, step: int) -> None:
    """Start `mldeploy serve salary:production`, estimate one candidate, move the alias to the newest version, again."""
    from mldeploy.api import Client
    from mldeploy.examples import salary

    row = {k: (None if v != v else v) for k, v in later.drop(columns=salary.TARGET).iloc[1].to_dict().items()}
    server, url, grpc_address = _start(registry.url)
    try:
        with Client(url, "salary") as model, Client(grpc_address, "salary", protocol="grpc") as over_grpc:
            before = model.infer(row)
            same = over_grpc.infer(row)
            newest = max(record.version for record in registry.versions("salary"))
            registry.set_alias(f"salary@{newest}", "production")
            with console.status(f"moved salary:production to salary@{newest}; waiting for the server to swap"):
                after = _wait_for(model, row, newest)
    finally:
        server.terminate()  # SIGTERM: in-flight requests finish, then it stops
        server.wait(30)
    console.print(f"[bold]{step}. dedicated model API[/] `mldeploy serve salary:production` on {url}: "
                  f"POST /predict/salary estimated ${before.values[0]:,.0f} with {before.ref} (gRPC ModelInfer on "
                  f"{grpc_address}: ${same.values[0]:,.0f}, {same.ref}); after "
                  f"`mldeploy alias salary@{newest} production` the server swapped in place and answered "
                  f"${after.values[0]:,.0f} with {after.ref} (the app was not touched; docs at {url}/docs)")


def _start(registry_url: str) -> tuple[subprocess.Popen, str, str]:
    """Start the server; return it, its URL and its gRPC address."""
    command = [sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", registry_url,
               "serve", "salary:production", "--port", "0", "--grpc-port", "0", "--poll-interval", "0.2"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with console.status("starting the model API server on a free local port (it loads and checks the model)"):
        line = server.stdout.readline()
        match = re.search(r"on (http://\S+) .*gRPC on (\S+)", line)
        if match is None:
            server.kill()
            raise BackendError(f"mldeploy serve did not start: {line.strip() or 'no output'}")
        url, grpc_address = match.groups()
        _wait_ready(server, url)
    return server, url, grpc_address


def _wait_ready(server: subprocess.Popen, url: str) -> None:
    import httpx

    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise BackendError(f"the model API server at {url} was not ready within {_START_TIMEOUT_S:.0f} s")


def _wait_for(model, row: dict, version: int):
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        answer = model.infer(row)
        if answer.version == version or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)
