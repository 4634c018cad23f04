"""Score one chunk with the serving core, setting aside the rows it refuses.

A row with a missing key, or one the serving core refuses
(:meth:`Model.infer_accepted`), becomes a :class:`Reject` carrying every
issue; the rest of the chunk is scored in one call. Input that is wrong as a
whole (an unknown column with ``extra="reject"``) raises the serving core's
SchemaError.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pandas as pd

from mldeploy.batch.chunk import Reject, ScoredChunk
from mldeploy.errors import Issue

__all__ = ["ChunkScorer"]

_KEY_EXPECTED = "a key (every row needs one)"


class ChunkScorer:
    """Score chunks with one serving-core Model (the version a run resolved at its start)."""

    def __init__(self, model, key: str, extra: str = "ignore"):
        self.model, self.key, self.extra = model, key, extra

    def score(self, start_row: int, keys: np.ndarray, frame: pd.DataFrame, row_numbers: np.ndarray | None = None) -> ScoredChunk:
        """Return the chunk's predictions and rejects; ``keys`` and ``frame`` are aligned, in input order.

        A reject's row number is ``start_row`` plus its position, or its entry in ``row_numbers`` when given.
        """
        numbers = row_numbers if row_numbers is not None else start_row + np.arange(len(frame))
        reasons: dict[int, list[Issue]] = defaultdict(list)
        for position in np.flatnonzero(pd.isna(keys)):
            reasons[int(position)].append(Issue(int(numbers[position]), self.key, _KEY_EXPECTED, "null"))
        keep = np.ones(len(frame), dtype=bool)
        keep[list(reasons)] = False
        rows = np.flatnonzero(keep)
        # Arrow nulls and empty CSV cells cannot tell None from NaN: missing values as in training.
        accepted = self.model.infer_accepted(frame.iloc[rows] if len(rows) < len(frame) else frame,
                                             extra=self.extra, missing="as-trained")
        for position, issues in accepted.refused.items():  # the core numbers them by position among the kept rows
            row = int(rows[position])
            reasons[row].extend(replace(issue, row=int(numbers[row])) for issue in issues)
            keep[row] = False
        rejects = tuple(Reject(int(numbers[row]), keys[row], tuple(reasons[row])) for row in sorted(reasons))
        return ScoredChunk(start_row, len(frame), keys[keep], accepted.prediction, rejects)
