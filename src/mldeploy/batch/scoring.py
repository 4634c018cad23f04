"""Score one chunk with the serving core, setting aside the rows it refuses.

A row with a missing key, or one that fails schema validation, becomes a
:class:`Reject` carrying every reason; the rest of the chunk is scored in
one call. Input that is wrong as a whole (a missing column) is an error.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from mldeploy.batch.chunk import Reject, ScoredChunk
from mldeploy.errors import ConfigError, Issue, SchemaError

__all__ = ["ChunkScorer"]

_MISSING_KEY = "the key is empty; every row needs a key"


class ChunkScorer:
    """Score chunks with one serving-core Model (the version a run resolved at its start)."""

    def __init__(self, model):
        self.model = model

    def score(self, start_row: int, keys: np.ndarray, frame: pd.DataFrame, row_numbers: np.ndarray | None = None) -> ScoredChunk:
        """Return the chunk's predictions and rejects; ``keys`` and ``frame`` are aligned, in input order.

        A reject's row number is ``start_row`` plus its position, or its entry in ``row_numbers`` when given.
        """
        reasons: dict[int, list[str]] = defaultdict(list)
        for position in np.flatnonzero(pd.isna(keys)):
            reasons[int(position)].append(_MISSING_KEY)
        keep = np.ones(len(frame), dtype=bool)
        keep[list(reasons)] = False
        while True:  # a second pass only when the first found bad rows
            rows = np.flatnonzero(keep)
            try:
                # Arrow nulls and empty CSV cells cannot tell None from NaN: missing values as in training.
                prediction = self.model.infer(frame.iloc[rows] if len(rows) < len(frame) else frame,
                                              extra="reject", missing="as-trained")
                break
            except SchemaError as error:
                self._set_aside(error, rows, reasons, keep)
        numbers = row_numbers if row_numbers is not None else start_row + np.arange(len(frame))
        rejects = tuple(Reject(int(numbers[row]), keys[row], tuple(reasons[row])) for row in sorted(reasons))
        return ScoredChunk.scored(start_row, len(frame), keys[keep], prediction, rejects)

    @staticmethod
    def _set_aside(error: SchemaError, rows: np.ndarray, reasons: dict, keep: np.ndarray) -> None:
        whole = [issue for issue in error.issues if issue.row is None]
        if whole or not error.issues:
            raise ConfigError(f"the input does not fit the model: {error}") from error
        for issue in error.issues:
            row = int(rows[issue.row])
            reasons[row].append(Issue(None, issue.field, issue.expected, issue.got).describe())  # its row is the input's
            keep[row] = False
