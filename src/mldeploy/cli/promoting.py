"""Commands that move an alias with a reason (promote, rollback) and show a model's audit history."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mldeploy.cli.app import app, console, current_user, errors, state
from mldeploy.cli.render import table


@app.command()
def promote(
    ref: str = typer.Argument(..., help="The version to promote, e.g. salary@4."),
    to: str = typer.Option(..., "--to", help="The alias to move, e.g. production."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in history with who and when."),
    force: bool = typer.Option(False, "--force", help="Promote a version that has not passed a gate (recorded as forced)."),
    config: Path = typer.Option(None, "--config", help="ops.toml whose [targets] receive the new version."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipeline (for batch and wheel targets)."),
) -> None:
    """Point an alias at a version that passed its gate; servers following the alias swap to it.

    Example: `mldeploy promote salary@4 --to production --reason "Q3 data"`
    """
    from mldeploy.ops.promotion import promote as run

    targets = _targets(config)
    with state.open_registry() as registry:
        done = run(registry, ref, to, reason, actor=current_user(), force=force, targets=targets, trusted=tuple(trust),
                   public_key=state.public_key)
    _report(done)


@app.command()
def rollback(
    name: str = typer.Argument(..., help="The model, e.g. salary."),
    alias: str = typer.Option(..., "--alias", help="The alias to move back, e.g. production."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in history with who and when."),
    config: Path = typer.Option(None, "--config", help="ops.toml whose [targets] receive the version."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipeline (for batch and wheel targets)."),
) -> None:
    """Point an alias back at the version it pointed at before, through the same fan-out as a promotion.

    Example: `mldeploy rollback salary --alias production --reason "complaints"`
    """
    from mldeploy.ops.promotion import rollback as run

    targets = _targets(config)
    with state.open_registry() as registry:
        done = run(registry, name, alias, reason, actor=current_user(), targets=targets, trusted=tuple(trust),
                   public_key=state.public_key)
    _report(done)


@app.command()
def history(
    name: str = typer.Argument(..., help="The model, e.g. salary."),
    as_json: bool = typer.Option(False, "--json", help="Print every event as JSON."),
) -> None:
    """Show every alias move, gate decision, drift finding and loop step: when, from, to, why, by whom.

    Example: `mldeploy history salary`
    """
    from mldeploy.ops.promotion import history as read

    with state.open_registry() as registry:
        events = read(registry, name)
    if as_json:
        console.print_json(json.dumps([event.to_dict() for event in events], default=str))
        return
    rows = [[event.at.strftime("%Y-%m-%d %H:%M:%S"), event.kind, event.alias or "",
             "" if event.previous_version is None else event.previous_version,
             "" if event.version is None else event.version, event.reason, event.actor] for event in events]
    console.print(table(f"History of {name}", ["when (UTC)", "what", "alias", "from", "to", "why", "by"], rows)
                  if rows else f"no history for {name} yet")


def _targets(config: Path | None) -> tuple:
    from mldeploy.ops.config import load_config

    return load_config(config).targets.all if config is not None else ()


def _report(done) -> None:
    if done.kind == "unchanged":
        console.print(f"{done.name}:{done.alias} already points at {done.version}; nothing moved")
    else:
        console.print(f"{done.kind}: {done.name}:{done.alias} {done.previous_version} → {done.version} ({done.reason})")
    for outcome in done.outcomes:
        if outcome.ok:
            console.print(f"  {outcome.target}: {outcome.status} {outcome.detail}", highlight=False)
        else:
            errors.print(f"  {outcome.target} failed: {outcome.detail}; retried on the next run", markup=False, highlight=False)
    if done.failed_targets:
        raise typer.Exit(1)
