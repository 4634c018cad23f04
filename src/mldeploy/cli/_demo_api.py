"""The demo's dedicated-model-API step: serve the alias on free local ports (REST and gRPC), call it both ways, move the alias, see the swap."""

from __future__ import annotations

import time

from mldeploy.cli.app import console

_START_TIMEOUT_S = 180.0


def api_step(registry, later, step: int) -> None:
    """Start `mldeploy serve salary:production`, estimate one candidate, move the alias to the newest version, again."""
    from mldeploy.api import Client
    from mldeploy.examples import salary
    from mldeploy.ops.local_server import start_api_server

    row = {k: (None if v != v else v) for k, v in later.drop(columns=salary.TARGET).iloc[1].to_dict().items()}
    with console.status("starting the model API server on a free local port (it loads and checks the model)"):
        server = start_api_server(registry.url, "salary:production", grpc=True, ready_timeout_s=_START_TIMEOUT_S)
    url, grpc_address = server.url, server.grpc_address
    try:
        with Client(url, "salary") as model, Client(grpc_address, "salary", protocol="grpc") as over_grpc:
            before = model.infer(row)
            same = over_grpc.infer(row)
            newest = max(record.version for record in registry.versions("salary"))
            registry.set_alias(f"salary@{newest}", "production")
            with console.status(f"moved salary:production to salary@{newest}; waiting for the server to swap"):
                after = wait_for_version(model, row, newest)
    finally:
        server.stop()  # SIGTERM: in-flight requests finish, then it stops
    console.print(f"[bold]{step}. dedicated model API[/] `mldeploy serve salary:production` on {url}: "
                  f"POST /predict/salary estimated ${before.values[0]:,.0f} with {before.ref} (gRPC ModelInfer on "
                  f"{grpc_address}: ${same.values[0]:,.0f}, {same.ref}); after "
                  f"`mldeploy alias salary@{newest} production` the server swapped in place and answered "
                  f"${after.values[0]:,.0f} with {after.ref} (the app was not touched; docs at {url}/docs)")


def wait_for_version(model, row: dict, version: int):
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        answer = model.infer(row)
        if answer.version == version or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)
