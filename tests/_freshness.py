"""Data and recipes shared by the freshness-loop tests (tests/ops, tests/cli)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy.examples import salary

ROWS = 1500
"""Rows of the champion's training data and of the drifted data."""


def small_recipe():
    """The salary pipeline with few boosting rounds: the champion's recipe, quick to refit."""
    return salary.default_pipeline(max_iter=25)


def shuffled(frame: pd.DataFrame, target: str = "salary") -> pd.DataFrame:
    """The frame with its target shuffled: a challenger trained on it learns nothing."""
    return frame.assign(**{target: np.random.default_rng(0).permutation(frame[target].to_numpy())})


MODEL_AND_DATA = """
[model]
name = "salary"
target = "salary"

[data]
current = "current.parquet"
holdout = "holdout.parquet"
"""
"""The [model] and [data] tables of an ops.toml beside current.parquet and holdout.parquet."""


def write_config(folder: Path, current, holdout) -> Path:
    """Write the tables and an ops.toml (with a batch target scoring 30 people) into ``folder``; return its path."""
    current.to_parquet(folder / "current.parquet")
    holdout.to_parquet(folder / "holdout.parquet")
    holdout.drop(columns="salary").head(30).assign(person=range(30)).to_parquet(folder / "people.parquet")
    path = folder / "ops.toml"
    path.write_text(MODEL_AND_DATA + f"""
[[targets.batch]]
name = "careers"
input = "people.parquet"
key = "person"
store = "sqlite:///{folder / 'predictions.db'}"
""")
    return path
