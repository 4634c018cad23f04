"""Rich tables for what the command line shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

__all__ = ["gate_table", "gate_table_of", "metrics_text", "schema_table", "table"]


def table(title: str, columns: list[str], rows: list[list], whole: tuple[str, ...] = ()) -> Table:
    """Return a simple table with a title, headers and rows of any values.

    Columns named in ``whole`` (timestamps, ids) are never wrapped or cut on a narrow terminal; others give way.
    """
    result = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if column in whole:
            width = max([len(column), *(len(str(row[index])) for row in rows)])
            result.add_column(column, no_wrap=True, min_width=width)
        else:
            result.add_column(column)
    for row in rows:
        result.add_row(*(Text("" if v is None else str(v)) for v in row))
    return result


def metrics_text(metrics: dict) -> str:
    """Format held-out metrics compactly: ``mae=11,044  r2=0.957``."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:,.0f}" if abs(value) >= 100 else f"{key}={value:.4g}")
        else:
            parts.append(f"{key}={value}")
    return "  ".join(parts)


def schema_table(schema) -> Table:
    """Return the input fields of a schema as a table."""
    rows = []
    for f in schema.fields:
        allowed = f.expected()
        if f.type == "category":
            allowed += " (unseen: " + f.unseen + ")"
        rows.append([f.name, f.type, "yes" if f.nullable else "no", allowed])
    return table("Input fields", ["field", "type", "may be empty", "valid values"], rows)


def gate_table(result) -> Table:
    """Return a gate's checks as a table: name, challenger, champion, difference, tolerance, verdict."""
    return gate_table_of(result.to_dict())


def gate_table_of(decision: dict) -> Table:
    """Return the table of a gate decision in its ``to_dict()`` form (as a loop pass carries it)."""
    rows = [[check["name"], _figure(check["challenger"]), _figure(check["champion"]), _figure(check["difference"]),
             check["tolerance"], "pass" if check["passed"] else "FAIL"] for check in decision["checks"]]
    return table(f"Gate: {decision['challenger']} against {decision['champion']} on {decision['holdout_rows']:,} holdout rows",
                 ["check", "challenger", "champion", "difference", "tolerance", "result"], rows)


def _figure(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    return "" if value is None else str(value)
