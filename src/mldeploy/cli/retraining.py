"""Commands of the freshness loop's first half: retrain a challenger, gate it against the champion."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mldeploy.cli.app import app, console, current_user, errors, state
from mldeploy.cli.render import gate_table, metrics_text
from mldeploy.errors import ConfigError


@app.command()
def retrain(
    name: str = typer.Argument(..., help="The model, e.g. salary; its champion is NAME:ALIAS."),
    data: Path = typer.Option(..., "--data", help="New training table (CSV, Parquet, JSON) with the target column."),
    target: str = typer.Option(..., "--target", help="The column to predict, e.g. salary."),
    alias: str = typer.Option("production", "--champion", help="The alias naming the champion whose recipe is cloned."),
    pipeline: str = typer.Option(None, "--pipeline", help="Fit this module:function's pipeline instead of the champion's."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.05, max=0.5, help="Share of rows held out for metrics."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/test split."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the champion's pipeline."),
) -> None:
    """Fit a challenger from the champion's own recipe on new data; its parent is the champion.

    Example: `mldeploy retrain salary --data recent.parquet --target salary`
    """
    import os

    from mldeploy.bundle import BundleRef
    from mldeploy.ops.retraining import retrain as run
    from mldeploy.ops.training import load_factory
    from mldeploy.tables import read_table

    BundleRef.check_name(name)
    BundleRef.check_alias(alias)
    factory = load_factory(pipeline, search_from=os.getcwd()) if pipeline else None
    frame = read_table(data)
    with state.open_registry() as registry, console.status(f"retraining {name} on {len(frame):,} rows") as status:
        done = run(registry, f"{name}:{alias}", frame, target, factory=factory, test_size=test_size, seed=seed,
                   trusted=tuple(trust), actor=current_user(), progress=status.update)
    console.print(f"registered [bold]{done.challenger}[/] (parent {done.champion})  held-out: {metrics_text(done.metrics)}")
    for warning in done.warnings:
        errors.print(f"warning: {warning}", markup=False, highlight=False)


@app.command()
def gate(
    challenger: str = typer.Argument(..., help="The challenger, e.g. salary@4."),
    against: str = typer.Option(..., "--against", help="The champion, e.g. salary:production."),
    holdout: Path = typer.Option(..., "--holdout", help="Rows with the target both are measured on."),
    target: str = typer.Option(..., "--target", help="The target column of the holdout."),
    config: Path = typer.Option(None, "--config", help="ops.toml whose [gate] table sets metrics, slices and budgets."),
    metric: list[str] = typer.Option([], "--metric", help="METRIC[:TOLERANCE], e.g. mae:0.05 (repeat; default: all of the task's)."),
    threshold: list[str] = typer.Option([], "--threshold", help="METRIC=VALUE: an absolute level that passes, e.g. r2=0.8."),
    slice_by: list[str] = typer.Option([], "--slice", help="COLUMN[:MIN_ROWS]: compare within each value, e.g. city:50."),
    latency_budget_ms: float = typer.Option(None, "--latency-budget-ms", help="Largest median one-row time (default 250)."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipelines."),
) -> None:
    """Compare a challenger with the champion on one holdout; exit 0 when it passes, 1 when refused.

    Checks: each metric (not worse than the champion's beyond its tolerance, or at its threshold),
    each slice, schema compatibility, one-row latency and finite answers on edge rows. The decision
    is recorded on the challenger's version, where `promote` looks for it.

    Example: `mldeploy gate salary@4 --against salary:production --holdout holdout.parquet --target salary`
    """
    from mldeploy.ops.gating import gate as run
    from mldeploy.tables import read_table

    rules = _gate_config(config, metric, threshold, slice_by, latency_budget_ms)
    frame = read_table(holdout)
    with state.open_registry() as registry:
        result = run(registry, challenger, against, frame, target, rules, trusted=tuple(trust), actor=current_user())
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str))
    else:
        console.print(gate_table(result))
        console.print(("[green]passed[/]: " if result.passed else "[red]refused[/]: ") + result.reason, highlight=False)
    if not result.passed:
        raise typer.Exit(1)


def _gate_config(path, metrics: list[str], thresholds: list[str], slices: list[str], budget):
    """Build the gate's rules: the config file's [gate] table, then the flags on top of it."""
    import dataclasses

    from mldeploy.ops.config import load_config
    from mldeploy.ops.gate_rules import GateConfig, MetricRule, SliceRule

    base = load_config(path).gate if path is not None else GateConfig()
    limits = dict(_pair(text, "=", "--threshold", "METRIC=VALUE, e.g. r2=0.8") for text in thresholds)
    rules = []
    for text in metrics:
        name, _, tolerance = text.partition(":")
        rules.append(MetricRule(name, _number(tolerance, "--metric", text) if tolerance else 0.02, limits.pop(name, None)))
    rules += [MetricRule(name, threshold=value) for name, value in limits.items()]
    sliced = []
    for text in slices:
        column, _, rows = text.partition(":")
        sliced.append(SliceRule(column, int(_number(rows, "--slice", text)) if rows else 30))
    changes = {"metrics": tuple(rules)} if rules else {}
    if sliced:
        changes["slices"] = tuple(sliced)
    if budget is not None:
        changes["latency_budget_ms"] = budget
    return dataclasses.replace(base, **changes)


def _pair(text: str, sep: str, flag: str, expected: str) -> tuple[str, float]:
    name, found, value = text.partition(sep)
    if not found:
        raise ConfigError(f'{flag} "{text}": expected {expected}')
    return name, _number(value, flag, text)


def _number(value: str, flag: str, text: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f'{flag} "{text}": "{value}" is not a number') from None
