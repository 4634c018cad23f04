"""Write a drift report as one self-contained HTML page: the table, then a plot per feature, training against current.

Plots are PNG images embedded as base64 and the style is inline, so the page
opens anywhere (a mail attachment, an artefact store) with no network and no CLI.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from mldeploy._extras import require
from mldeploy.errors import ConfigError
from mldeploy.ops.drift import DriftReport, shown_amount
from mldeploy.ops.drift_compare import FeatureDrift

__all__ = ["render_html", "write_html"]

_BARS_SHOWN = 15
_BINS = 30
_SKEWED = 20  # the 99.5th percentile this many times the median: plot on a log axis
_TRAINING, _CURRENT = "#4c72b0", "#dd8452"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}.drift{color:#b00020}.stable{color:#1b7f3b}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em}.card h3{margin:.2em 0}.card img{width:100%}
.why{font-size:.85em;color:#555}
"""


def write_html(report: DriftReport, path: str | Path) -> Path:
    """Write the report's page to ``path`` and return it; ConfigError names a path that cannot be written."""
    path = Path(path)
    page = render_html(report)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose a writable --report path") from exc
    return path


def render_html(report: DriftReport) -> str:
    """Return the report as one HTML page with every plot inside it."""
    verdict = "Drift" if report.drifted else "No drift"
    found = [*report.features, *([report.prediction] if report.prediction else [])]
    cards = "".join(_card(f) for f in found)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(verdict)}: {_e(report.ref)}</title>"
            f"<style>{_STYLE}</style></head><body>"
            f"<h1 class='{'drift' if report.drifted else 'stable'}'>{_e(verdict)}: {_e(report.ref)}</h1>"
            f"<p>{_e(report.summary())}</p>{_facts(report)}{_table(found)}"
            f"<h2>Training against current, per feature</h2><div class='cards'>{cards}</div></body></html>")


def _facts(report: DriftReport) -> str:
    items = [f"current data: {report.source}, {report.rows:,} rows ({report.sampled_rows:,} sampled for tests and predictions)",
             f"checked {report.created}"]
    if report.refused_rows:
        items.append(f"{report.refused_rows:,} sampled rows refused by the model's schema")
    error = report.estimated_error
    if error is not None:
        change = f" ({error.change:+.1%})" if error.change is not None else ""
        items.append(f"estimated {error.metric} before truth: {shown_amount(error.estimated)}, against "
                     f"{shown_amount(error.held_out)} on held-out rows at training{change}")
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _table(found: list[FeatureDrift]) -> str:
    head = FeatureDrift.CELLS
    rows = []
    for f in found:
        cells = f.cells()
        style = " class='drift'" if f.drifted else ""
        rows.append(f"<tr{style}>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


def _card(f: FeatureDrift) -> str:
    why = "; ".join(f.reasons) if f.reasons else (f.note or "within every limit")
    image = _plot(f)
    picture = f"<img alt='{_e(f.feature)}: training against current' src='data:image/png;base64,{image}'>" if image else ""
    state = "drift" if f.drifted else "stable"
    return (f"<div class='card'><h3 class='{state}'>{_e(f.feature)}: {'drifted' if f.drifted else 'stable'}</h3>"
            f"<div class='why'>{_e(why)}</div>{picture}</div>")


def _plot(f: FeatureDrift) -> str | None:
    if f.training_points is None and not f.shares:
        return None
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # no display: files only
    pyplot = require("matplotlib.pyplot")
    figure, axes = pyplot.subplots(figsize=(6, 3.2))
    try:
        if f.training_points is not None:
            _histograms(axes, f.training_points, f.current_points)
        else:
            _bars(axes, f.shares)
        axes.set_title(f.feature)
        axes.legend()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
    finally:
        pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _histograms(axes, training: np.ndarray, current: np.ndarray) -> None:
    both = np.concatenate([training, current])
    low, middle, high = np.quantile(both, [0.005, 0.5, 0.995])
    skewed = low > 0 and high / middle > _SKEWED
    if skewed:  # sizes, prices: on a linear axis every value sits in the first bar
        edges = np.geomspace(low, high, _BINS + 1)
        axes.set_xscale("log")
    else:
        edges = np.linspace(low, high, _BINS + 1) if high > low else _BINS
    # Share of rows per bar (not density): honest on a log axis too, where bars differ in width.
    axes.hist(training, bins=edges, weights=np.full(len(training), 1 / len(training)), histtype="stepfilled",
              alpha=0.45, color=_TRAINING, label="training")
    axes.hist(current, bins=edges, weights=np.full(len(current), 1 / len(current)), histtype="step", linewidth=2,
              color=_CURRENT, label="current")
    axes.set_ylabel("share of rows")


def _bars(axes, shares: dict) -> None:
    ranked = sorted(shares.items(), key=lambda item: -max(item[1]))[:_BARS_SHOWN][::-1]
    names = [name for name, _ in ranked]
    positions = np.arange(len(names))
    axes.barh(positions + 0.2, [s[0] for _, s in ranked], height=0.4, color=_TRAINING, label="training")
    axes.barh(positions - 0.2, [s[1] for _, s in ranked], height=0.4, color=_CURRENT, label="current")
    axes.set_yticks(positions, names)
    axes.set_xlabel("share of rows")


def _e(value) -> str:
    return html.escape(str(value), quote=True)
