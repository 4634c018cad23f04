"""The demo's freshness step: drifted data arrives, the loop finds drift, retrains, gates and promotes, a running server swaps."""

from __future__ import annotations

from pathlib import Path

from mldeploy.cli.app import console
from mldeploy.cli.render import gate_table_of

_CURRENT_ROWS = 5_000
_HOLDOUT_ROWS = 2_000


def loop_step(registry, workdir: Path, step: int) -> None:
    """Write drifted data and an ops.toml, run one pass of the loop while a server follows salary:production."""
    from mldeploy.api import Client
    from mldeploy.cli._demo_api import wait_for_version
    from mldeploy.examples import salary
    from mldeploy.ops import Loop, load_config
    from mldeploy.ops.local_server import start_api_server

    config = _write_inputs(workdir / "freshness")
    row = {k: (None if v != v else v) for k, v in salary.generate(1, seed=11, drift=0.3).drop(columns=salary.TARGET)
           .iloc[0].to_dict().items()}
    with console.status("starting the model API server on a free local port (it loads and checks the model)"):
        server = start_api_server(registry.url, "salary:production")
    try:
        with Client(server.url, "salary") as model:
            before = model.infer(row)
            with console.status("the loop: drift check, retraining the champion's recipe, gate, promotion"):
                done = Loop(registry, load_config(config), actor="demo (loop)").run_once()
            if done.gate:
                console.print(gate_table_of(done.gate))
            after = wait_for_version(model, row, done.challenger.version) if done.outcome == "promoted" else before
    finally:
        server.stop()
    found = done.drift.get("drifted_features") if done.drift else None
    drift_text = f"drift found in {', '.join(found)}" if found else ("drift found" if done.drift and done.drift.get("drifted") else "no drift")
    console.print(f"[bold]{step}. keeping it fresh[/] `mldeploy loop salary --config {config}`: {drift_text}; "
                  f"{done.outcome}: {done.detail}. The server following salary:production answered "
                  f"${before.values[0]:,.0f} with {before.ref}, then ${after.values[0]:,.0f} with {after.ref}; "
                  "`mldeploy history salary` shows every step and `mldeploy rollback salary --alias production "
                  "--reason ...` undoes it")


def _write_inputs(folder: Path) -> Path:
    from mldeploy.examples import salary

    folder.mkdir(parents=True, exist_ok=True)
    salary.generate(_CURRENT_ROWS, seed=21, drift=0.3).to_parquet(folder / "current.parquet")
    salary.generate(_HOLDOUT_ROWS, seed=22, drift=0.3).to_parquet(folder / "holdout.parquet")
    path = folder / "ops.toml"
    path.write_text('[model]\nname = "salary"\ntarget = "salary"\n\n[data]\ncurrent = "current.parquet"\n'
                    'holdout = "holdout.parquet"\n\n[gate]\nslices = [{column = "remote", min_rows = 200, tolerance = 0.5}]\n')
    return path
