"""The ``loop`` command: keep a model fresh on its own, once (for cron) or on a schedule."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import typer

from mldeploy.cli.app import app, console, current_user, errors, state
from mldeploy.cli.render import gate_table_of
from mldeploy.errors import ConfigError


@app.command()
def loop(
    name: str = typer.Argument(..., help="The model, e.g. salary (as in the config's [model] table)."),
    config: Path = typer.Option(..., "--config", help="ops.toml: data, gate, targets and schedule."),
    once: bool = typer.Option(False, "--once", help="Run one pass and exit (for cron or a scheduler)."),
    as_json: bool = typer.Option(False, "--json", help="Print each pass as JSON."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipelines."),
) -> None:
    """Run drift → retrain → gate → promote → fan-out; promote only what passed its gate.

    State lives in the registry's database: a loop killed at any step resumes or cleans up when
    started again, and two loops on one registry never promote twice. With --once, the exit code
    is 0 when the pass ended (no drift, promoted, or another loop held the lock) and 1 when the
    gate refused the challenger.

    Example: `mldeploy loop salary --config ops.toml --once`
    """
    from mldeploy.ops.config import load_config
    from mldeploy.ops.loop import Loop

    settings = load_config(config)
    if settings.model.name != name:
        raise ConfigError(f'{config} configures the model "{settings.model.name}", not "{name}"; '
                          f"run `mldeploy loop {settings.model.name} --config {config}` or fix [model] name")
    with state.open_registry() as registry:
        runner = Loop(registry, settings, actor=f"{current_user()} (loop)", trusted=tuple(trust),
                      public_key=state.public_key)
        if once:
            done = runner.run_once()
            _show(done, as_json)
            if done.outcome == "refused":
                raise typer.Exit(1)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        console.print(f"looping over {name}:{settings.model.alias} every {settings.loop.interval_s:g} s", highlight=False)
        runner.run(stop, on_pass=lambda done: _show(done, as_json))


def _show(done, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(done.to_dict(), default=str))
        return
    if done.gate:
        console.print(gate_table_of(done.gate))
    line = f"{done.outcome}: {done.detail}"
    (errors if done.outcome in ("refused", "failed") else console).print(line, markup=False, highlight=False)
    for outcome in done.outcomes:
        shown = f"  {outcome.target}: {outcome.status} {outcome.detail}"
        (console if outcome.ok else errors).print(shown, markup=False, highlight=False)
