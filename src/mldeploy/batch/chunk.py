"""What the stages of a batch run hand each other: a scored chunk and its rejected rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from mldeploy.errors import Issue
from mldeploy.serving.result import Prediction

__all__ = ["Reject", "ScoredChunk"]


@dataclass(frozen=True)
class Reject:
    """One input row that was not scored: its 0-based row number in the input, its key and every issue."""

    row: int
    key: str | None
    issues: tuple[Issue, ...]
    """Every bad field of the row, numbered with the row's position in the input."""

    @property
    def reasons(self) -> tuple[str, ...]:
        """Each issue in the words every entry point uses, without the row number."""
        return tuple(Issue(None, i.field, i.expected, i.got).describe() for i in self.issues)

    def reasons_json(self) -> str:
        """Return the issues as the rejects table keeps them: a JSON list of {field, expected, got, reason}."""
        return json.dumps([{"field": i.field, "expected": i.expected, "got": i.got, "reason": reason}
                           for i, reason in zip(self.issues, self.reasons)])

    @classmethod
    def from_json(cls, row: int, key: str | None, text: str) -> "Reject":
        """Rebuild a reject from a row of the rejects table."""
        return cls(row, key, tuple(Issue(row, i["field"], i["expected"], i["got"]) for i in json.loads(text)))


@dataclass(frozen=True)
class ScoredChunk:
    """The predictions for one chunk of input rows, in input order.

    ``start_row`` and ``rows`` say which input rows the chunk covers (scored
    and rejected together), so a run's progress is the end of its last chunk.
    ``prediction`` is the serving core's result for the scored rows, one per
    key; its encodings for the store and Parquet come from
    :mod:`mldeploy.serving.codecs`, like every other adapter's.
    """

    start_row: int
    rows: int
    keys: np.ndarray
    prediction: Prediction
    rejects: tuple[Reject, ...] = field(default=())

    @property
    def end_row(self) -> int:
        """The input row number just past this chunk."""
        return self.start_row + self.rows

    @property
    def values(self) -> np.ndarray:
        """One value per scored row: a number for a regressor, a class label for a classifier."""
        return self.prediction.values

    @property
    def is_classification(self) -> bool:
        """Tell whether the values are class labels."""
        return self.prediction.classes is not None
