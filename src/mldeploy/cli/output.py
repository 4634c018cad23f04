"""Hand a command's predictions to the user: a file, CSV on a pipe, or a short table on a terminal.

Nothing is dropped silently: redirected output gets every row as CSV, and a
terminal shows the first rows with the count and how to get the rest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from mldeploy.cli.app import console, errors

__all__ = ["SHOWN_ROWS", "prediction_table", "report_predictions"]

SHOWN_ROWS = 50


def prediction_table(frame: pd.DataFrame, values, classes=None, probabilities=None) -> pd.DataFrame:
    """Return the input rows with a ``prediction`` column and, for a classifier, one ``probability_<class>`` each."""
    result = frame.copy()
    result["prediction"] = np.asarray(values)
    if classes is not None and probabilities is not None:
        for index, label in enumerate(classes):
            result[f"probability_{label}"] = np.asarray(probabilities)[:, index]
    return result


def report_predictions(result: pd.DataFrame, output: Path | None, source: Path, ref, stdout: TextIO | None = None) -> None:
    """Write ``result`` to ``output``; without one, CSV of every row to a pipe, or a table of the first rows to a terminal."""
    from mldeploy.tables import write_table

    stdout = stdout or sys.stdout
    if output is not None:
        write_table(result, output)
        console.print(f"wrote {len(result):,} predictions of {ref} to {output}")
    elif not stdout.isatty():
        _write_csv(result, stdout)
        if result.empty:
            errors.print(f"0 rows in {source}: nothing to predict", markup=False, highlight=False)
    elif result.empty:
        console.print(f"0 rows in {source}: nothing to predict", markup=False, highlight=False)
    else:
        console.print(result.head(SHOWN_ROWS).to_string(index=False), markup=False, highlight=False)
        if len(result) > SHOWN_ROWS:
            console.print(f"showing {SHOWN_ROWS} of {len(result):,} rows; use --output FILE (or redirect stdout) for all of them",
                          markup=False, highlight=False)


def _write_csv(result: pd.DataFrame, stdout: TextIO) -> None:
    try:
        result.to_csv(stdout, index=False)
        stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): that is its choice, not an error. Python would
        # report the broken pipe again when it flushes stdout at exit, so point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
