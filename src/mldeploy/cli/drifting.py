"""The drift command: current data against the training profile, as a table, JSON or an HTML page; exit 3 on drift."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mldeploy.cli.app import app, console, current_user, state
from mldeploy.cli.render import table
from mldeploy.ops.drift_thresholds import CHUNK_ROWS, MAX_ROWS, SAMPLE_ROWS

DRIFT_EXIT = 3
"""The exit code when drift passes the thresholds (0: no drift, 2: bad input, 1: another failure)."""


@app.command()
def drift(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS, NAME (latest) or a bundle path."),
    current: Path = typer.Option(..., "--current", help="Current data: a CSV file, a Parquet file or a folder of them."),
    report: Path = typer.Option(None, "--report", help="Also write one self-contained HTML page with a plot per feature."),
    threshold: list[str] = typer.Option(
        None, "--threshold", metavar="KEY=VALUE",
        help="KEY=VALUE, repeatable: p_value, distance, psi, unseen_share, null_share_change for every feature, "
             "FEATURE.KEY for one (prediction.KEY for the model's output), drift_share for the dataset.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    sample_rows: int = typer.Option(SAMPLE_ROWS, "--sample-rows", min=1, max=MAX_ROWS, help="Rows kept for the tests and scored for the prediction."),
    chunk_rows: int = typer.Option(CHUNK_ROWS, "--chunk-rows", min=1, max=MAX_ROWS, help="Rows read at a time."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipeline (your own transformer class)."),
) -> None:
    """Compare current data with the training profile the bundle carries; exit 3 when drift passes the thresholds.

    Per feature: a two-sample test (KS or Wasserstein for numbers, chi-square or Jensen-Shannon for
    categories), PSI on the profile's bins, values training never saw and empty values; also the
    prediction's own drift and, for bundles trained by mldeploy, the estimated error before truth.

    Example: `mldeploy drift salary:production --current last_week.parquet --report drift.html --threshold city.unseen_share=0.1`
    """
    from mldeploy.ops.drift import drift as check_drift

    # The registry is opened only for a registry reference: a bundle path needs none.
    found = check_drift(ref, current, thresholds=threshold or None, registry=state.registry, public_key=state.public_key,
                        chunk_rows=chunk_rows, sample_rows=sample_rows, trusted=tuple(trust))
    _record(ref, found)
    if report is not None:
        from mldeploy.ops.drift_html import write_html

        write_html(found, report)
    if as_json:
        console.print_json(json.dumps(found.to_dict()))
    else:
        _print(found, report)
    if found.drifted:
        raise typer.Exit(DRIFT_EXIT)


def _record(ref: str, found) -> None:
    """Add the finding to the model's history (`mldeploy history`), when the model is in a writable registry."""
    from mldeploy.ops.audit import record_drift
    from mldeploy.registry import bundle_path

    if bundle_path(ref) is not None:
        return  # a bundle folder or archive outside the registry has no history
    with state.open_registry() as registry:
        if not registry.read_only:
            record_drift(registry, found, current_user())


def _print(found, report: Path | None) -> None:
    from mldeploy.ops.drift_compare import FeatureDrift

    findings = (*found.features, *((found.prediction,) if found.prediction else ()))
    shown = table(f"Drift of {found.ref} on {found.rows:,} rows of {found.source}", list(FeatureDrift.CELLS),
                  [f.cells() for f in findings])
    # Names whole on a narrow terminal: the figures wrap instead.
    shown.columns[0].no_wrap, shown.columns[0].min_width = True, max(len(f.feature) for f in findings)
    console.print(shown)
    for f in findings:  # the why, below the table: a column of sentences would squeeze the figures
        if f.reasons or f.note:
            console.print(f"  {f.feature}: {'; '.join(f.reasons) or f.note}", markup=False, highlight=False)
    console.print(found.summary(), markup=False, highlight=False)
    if report is not None:
        console.print(f"wrote {report}")
