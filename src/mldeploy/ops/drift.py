"""Check current data against the training profile a bundle carries: feature drift, prediction drift, estimated error.

One pass over the data, chunk by chunk, counts what every row says (empty
values, profile bins, categories, values training never saw) and keeps a
uniform sample of rows; the sample is then scored through the serving core
for the prediction's own drift and, when the bundle has an error model, the
estimated error before any truth arrives (see :mod:`mldeploy.ops.error_model`).
Memory is bounded by the chunk and the sample, whatever the data's size, and
only the sample is scored. Limits: :mod:`mldeploy.ops.drift_thresholds`.

Example::

    from mldeploy.ops.drift import drift
    report = drift("salary:production", "last_week.parquet", thresholds={"city.unseen_share": 0.1})
    report.drifted, report.to_dict()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy._extras import require
from mldeploy.errors import ConfigError
from mldeploy.ops.drift_compare import FeatureDrift, compare_categories, compare_numbers
from mldeploy.ops.drift_tally import CategoryTally, NumericTally, RowSample
from mldeploy.ops.drift_thresholds import CHUNK_ROWS, MAX_ROWS, PREDICTION, SAMPLE_ROWS, Thresholds
from mldeploy.ops.error_model import ErrorModel

__all__ = ["DriftReport", "EstimatedError", "Thresholds", "drift", "shown_amount"]

_NUMERIC_TYPES = ("number", "integer")


@dataclass(frozen=True)
class EstimatedError:
    """The model's expected error on the current data, estimated without truth, beside its held-out measure."""

    metric: str
    """``mae`` (regression) or ``error_rate`` (classification)."""
    estimated: float
    held_out: float
    rows: int
    """How many current rows the estimate averages (the scored sample)."""

    @property
    def change(self) -> float | None:
        """Relative change from the held-out measure (0.2 = 20% worse), None when that was 0."""
        return self.estimated / self.held_out - 1 if self.held_out else None


@dataclass(frozen=True)
class DriftReport:
    """What one drift check found: per feature, for the prediction, for the dataset, and the estimated error."""

    ref: str
    source: str
    rows: int
    sampled_rows: int
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    estimated_error: EstimatedError | None
    refused_rows: int
    """Sampled rows the model's schema refused (they count in feature drift, not in the prediction's)."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features that passed a limit."""
        return tuple(f.feature for f in self.features if f.drifted)

    @property
    def drift_share(self) -> float:
        """Share of the features that drifted."""
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Whether at least ``thresholds.drift_share`` of the features drifted."""
        return self.drift_share >= self.thresholds.drift_share

    @property
    def drifted(self) -> bool:
        """Whether drift passes the thresholds: the dataset drifted, or the model's predictions did."""
        return self.dataset_drift or bool(self.prediction and self.prediction.drifted)

    def summary(self) -> str:
        """Return one line saying what was found."""
        found = f"{len(self.drifted_features)} of {len(self.features)} features drifted ({self.drift_share:.0%}"
        found += f", dataset drift at {self.thresholds.drift_share:.0%})"
        if self.prediction is not None:
            found += "; predictions " + ("drifted" if self.prediction.drifted else "stable")
        if self.estimated_error is not None:
            e = self.estimated_error
            change = f" ({e.change:+.0%})" if e.change is not None else ""
            found += f"; estimated {e.metric} {shown_amount(e.estimated)} vs {shown_amount(e.held_out)} held out{change}"
        return f"{self.ref} on {self.source}: " + ("DRIFT: " if self.drifted else "no drift: ") + found

    def to_dict(self) -> dict:
        """Return the report as JSON-ready data, for ``--json``, a history record or a loop's decision."""
        error = self.estimated_error
        return {
            "ref": self.ref, "source": self.source, "created": self.created, "rows": self.rows,
            "sampled_rows": self.sampled_rows, "refused_rows": self.refused_rows, "drifted": self.drifted,
            "dataset_drift": self.dataset_drift, "drift_share": self.drift_share,
            "drifted_features": list(self.drifted_features),
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "estimated_error": None if error is None else {
                "metric": error.metric, "estimated": error.estimated, "held_out": error.held_out,
                "rows": error.rows, "change": error.change},
            "thresholds": self.thresholds.to_dict(),
        }


def shown_amount(value: float) -> str:
    """Format an error for people: ``12,718`` for salaries, ``0.0831`` for rates."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def drift(ref_or_model, current_frame, thresholds=None, registry=None, public_key=None, trusted=(),
          chunk_rows: int = CHUNK_ROWS, sample_rows: int = SAMPLE_ROWS, seed: int = 0) -> DriftReport:
    """Compare current data with the training profile of a model; return a :class:`DriftReport`.

    ``ref_or_model`` is a reference (``salary:production``), a bundle path, a
    Bundle or a loaded serving Model. ``current_frame`` is a DataFrame or a
    CSV/Parquet path (a folder of Parquet files too), read ``chunk_rows`` at a
    time. ``thresholds`` is a :class:`Thresholds`, a mapping such as
    ``{"psi": 0.25, "city.unseen_share": 0.2}`` or ``["psi=0.25"]``.
    ``sample_rows`` bounds the rows kept for tests and scored for prediction
    drift. Raises ConfigError for bad thresholds, a missing file, or data
    without the model's features.
    """
    limits = Thresholds.parse(thresholds)
    if not (1 <= chunk_rows <= MAX_ROWS and 1 <= sample_rows <= MAX_ROWS):
        raise ConfigError(f"chunk_rows and sample_rows must lie in [1, {MAX_ROWS:,}] (memory grows with both), "
                          f"got {chunk_rows:,} and {sample_rows:,}")
    model = _model(ref_or_model, registry, public_key, trusted)
    schema = model.schema
    limits.check_features(schema.names)
    profile = model.bundle.profile()
    columns = profile.get("columns", {})
    source, chunks, text = _chunks(current_frame, schema.names, chunk_rows)
    tallies = {f.name: _tally(f, columns.get(f.name, {})) for f in schema.fields}
    sample = RowSample(sample_rows, seed)
    rows = 0
    for table in chunks:
        table = _typed(table, schema) if text else table
        for name, tally in tallies.items():
            tally.add(table.column(name), source, name)
        sample.add(table)
        rows += table.num_rows
    if rows == 0:
        raise ConfigError(f"{source} has no rows; give current data to compare with training")
    kept = _frame(sample.table(), schema)
    features = tuple(_compare(f, columns.get(f.name, {}), tallies[f.name], kept, limits) for f in schema.fields)
    prediction, estimate, refused = _predictions(model, kept, profile.get("prediction"), limits)
    return DriftReport(str(model.ref), source, rows, len(kept), features, prediction, estimate, refused, limits)


def _model(ref_or_model, registry, public_key, trusted):
    from mldeploy.serving import Model, load

    if isinstance(ref_or_model, Model):
        return ref_or_model
    return load(ref_or_model, registry=registry, trusted=trusted, public_key=public_key)


def _chunks(current, names: list[str], chunk_rows: int):
    """Return (a description of the data, its Arrow chunks of the model's features, whether they are text)."""
    if isinstance(current, pd.DataFrame):
        _check_columns("the current data", list(map(str, current.columns)), names)
        return "the current data", _frame_chunks(current[names], chunk_rows), False
    if not isinstance(current, (str, Path)):
        raise ConfigError(f"current data: expected a DataFrame or a CSV/Parquet path, got {type(current).__name__}")
    from mldeploy.batch.input_tables import CsvTable, open_input

    table = open_input(current)
    _check_columns(table.description, table.columns(), names)
    return table.description, table.iter_tables(names, chunk_rows), isinstance(table, CsvTable)


def _check_columns(source: str, available: list[str], names: list[str]) -> None:
    missing = [name for name in names if name not in available]
    if missing:
        raise ConfigError(f"{source} lacks the model's feature(s) {', '.join(map(repr, missing))}; "
                          f"its columns are {', '.join(available[:30])}")


def _frame_chunks(frame: pd.DataFrame, chunk_rows: int):
    pa = require("pyarrow")
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start:start + chunk_rows]
        try:
            yield pa.Table.from_pandas(part, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # mixed types in one column: Arrow names the column
            raise ConfigError(f"the current data: {str(exc).splitlines()[0]}; give each column one type") from exc


def _typed(table, schema):
    from mldeploy.batch.columns import typed_table

    return typed_table(table, schema)


def _tally(field_, profile: dict):
    if field_.type in _NUMERIC_TYPES:
        bins = profile.get("bins")
        return NumericTally(np.asarray(bins["edges"], dtype="float64") if bins else None)
    listed = set(profile.get("frequencies", {}))
    if field_.categories is not None:
        seen = set(map(str, field_.categories))
    else:
        seen = listed if profile.get("other_share", 1.0) == 0.0 and "frequencies" in profile else None
    return CategoryTally(listed, seen)


def _frame(table, schema) -> pd.DataFrame:
    from mldeploy.batch.columns import feature_frame

    return feature_frame(table, schema, text_columns=False)


def _compare(field_, profile: dict, tally, kept: pd.DataFrame, limits: Thresholds) -> FeatureDrift:
    if isinstance(tally, NumericTally):
        values = kept[field_.name].to_numpy(dtype="float64", na_value=np.nan)
        return compare_numbers(field_.name, profile, tally, values, limits.for_feature(field_.name))
    return compare_categories(field_.name, profile, tally, limits.for_feature(field_.name))


def _predictions(model, kept: pd.DataFrame, profile: dict | None, limits: Thresholds):
    """Score the sample through the serving core: the prediction's drift, the estimated error, the refused rows."""
    # Arrow nulls and empty CSV cells cannot tell None from NaN: missing values as in training.
    accepted = model.infer_accepted(kept, extra="ignore", missing="as-trained")
    scored = np.setdiff1d(np.arange(len(kept)), np.fromiter(accepted.refused, dtype=int, count=len(accepted.refused)))
    rows = kept.iloc[scored] if len(scored) < len(kept) else kept
    values = np.asarray(accepted.prediction.values)
    prediction = _prediction_drift(values, profile, model.task.value, limits) if profile else None
    errors = ErrorModel.from_bundle(model.bundle)
    estimated = errors.estimate(rows, values) if errors is not None else None
    estimate = EstimatedError(errors.metric, estimated, errors.held_out, len(rows)) if estimated is not None else None
    return prediction, estimate, len(accepted.refused)


def _prediction_drift(values: np.ndarray, profile: dict, task: str, limits: Thresholds) -> FeatureDrift:
    pa = require("pyarrow")
    if task == "regression":
        tally = NumericTally(np.asarray(profile["bins"]["edges"]) if profile.get("bins") else None)
        column = pa.array(values.astype("float64"))
        tally.add(column, "the predictions", PREDICTION)
        return compare_numbers(PREDICTION, profile, tally, values.astype("float64"), limits.for_feature(PREDICTION))
    labels = set(profile.get("frequencies", {}))
    tally = CategoryTally(labels, labels if profile.get("other_share", 1.0) == 0.0 else None)
    tally.add(pa.array(values.astype(str)), "the predictions", PREDICTION)
    return compare_categories(PREDICTION, profile, tally, limits.for_feature(PREDICTION))
