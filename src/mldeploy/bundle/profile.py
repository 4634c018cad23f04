"""A reference profile of the training data: the baseline for drift checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["profile_frame"]

_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
_TOP_CATEGORIES = 50


def profile_frame(frame: pd.DataFrame) -> dict:
    """Return per-column summaries: quantiles for numbers, frequencies for categories."""
    return {"rows": int(len(frame)), "columns": {str(name): _profile_column(frame[name]) for name in frame.columns}}


def _profile_column(column: pd.Series) -> dict:
    summary = {"null_share": float(column.isna().mean()) if len(column) else 0.0}
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.dropna().to_numpy(dtype="float64")
        values = values[np.isfinite(values)]
        if values.size:
            summary["quantiles"] = dict(zip(map(str, _QUANTILES), map(float, np.quantile(values, _QUANTILES))))
            summary["mean"], summary["std"] = float(values.mean()), float(values.std())
        return summary
    shares = column.dropna().astype(str).value_counts(normalize=True).head(_TOP_CATEGORIES)
    summary["frequencies"] = {str(k): float(v) for k, v in shares.items()}
    return summary
