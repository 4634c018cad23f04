"""Rows of the prediction database as plain values: a stored prediction and a run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RunRecord", "StoredPrediction"]


@dataclass(frozen=True)
class StoredPrediction:
    """The prediction kept for one key: its value (regression) or label and probabilities (classification)."""

    model_name: str
    key: str
    model_version: int
    run_id: str
    predicted_at: datetime
    value: float | None
    label: str | None
    probabilities: dict[str, float] | None

    @classmethod
    def from_row(cls, row) -> "StoredPrediction":
        """Build one from a database row of the predictions table or the latest view."""
        probabilities = json.loads(row.probabilities) if row.probabilities is not None else None
        return cls(row.model_name, row.key, row.model_version, row.run_id, row.predicted_at,
                   row.value, row.label, probabilities)

    def to_json(self) -> dict:
        """Return the prediction as JSON-ready data (time in ISO 8601, UTC)."""
        data = {"model_name": self.model_name, "key": self.key, "model_version": self.model_version,
                "run_id": self.run_id, "predicted_at": self.predicted_at.isoformat()}
        if self.label is None:
            data["value"] = self.value
        else:
            data["label"] = self.label
            data["probabilities"] = self.probabilities
        return data


@dataclass(frozen=True)
class RunRecord:
    """One batch run: what it scored with, what it read, and how far it got.

    ``rows_done`` counts input rows committed from the start of the input
    (scored or rejected): a resumed run skips exactly those.
    """

    run_id: str
    model_name: str
    model_version: int
    engine: str
    input: str
    input_fingerprint: str
    key_column: str
    status: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    rows_total: int | None
    rows_done: int
    rows_written: int
    rows_rejected: int
    error: str | None

    @classmethod
    def from_row(cls, row) -> "RunRecord":
        """Build one from a row of the runs table."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    @property
    def ref(self) -> str:
        """``name@version`` this run scored with."""
        return f"{self.model_name}@{self.model_version}"
