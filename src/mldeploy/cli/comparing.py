"""The ``compare`` command: the comparison of architectures, measured on the user's own model."""

from __future__ import annotations

import json

import typer

from mldeploy.cli.app import app, console, state
from mldeploy.cli.render import table


@app.command()
def compare(
    ref: str = typer.Argument(..., help="NAME:ALIAS or NAME@VERSION of a regression model (only read)."),
    rows: int = typer.Option(10_000, "--rows", help="Rows sent through each architecture (1 to 1,000,000)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of a table."),
) -> None:
    """Run the same rows through each architecture on this machine and print the measured comparison table.

    Embedded (in process), the model API over HTTP and gRPC (a local server),
    a live model subscribed to a local topic, and the batch path into sqlite:
    one-row latency p50/p99, rows/s one at a time and in bulk, time for a new
    version to reach serving, moving parts, real time or not, and whether all
    gave the same predictions. Your registry is only read.

    Example: `mldeploy compare salary:production --rows 10000`
    """
    from mldeploy.ops.compare import compare as run

    with state.open_registry() as registry, console.status("measuring") as status:
        result = run(ref, registry, rows=rows, progress=status.update)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    shown = [[a.architecture, f"{a.one_row_p50_ms:.2f} / {a.one_row_p99_ms:.2f}",
              "-" if a.rows_per_s_one_at_a_time is None else f"{a.rows_per_s_one_at_a_time:,.0f}",
              f"{a.rows_per_s_bulk:,.0f}", f"{a.new_version_s:.2f} s ({a.new_version_how})", a.moving_parts,
              "yes" if a.real_time else "no", "same" if a.max_difference == 0 else f"differs by {a.max_difference:.3g}"]
             for a in result.architectures]
    console.print(table(f"{result.ref}, {result.rows:,} rows through each architecture on this machine",
                        ["architecture", "one row ms p50 / p99", "rows/s 1 by 1", "rows/s bulk",
                         "new version serving after", "moving parts", "real time", "predictions"], shown))
    verdict = "every architecture gave the same predictions" if result.same_predictions else \
        "[red]the architectures gave different predictions[/]"
    console.print(f"{verdict}; a batch row is looked up, not computed, so it has no one-by-one rate")
