"""Prediction: the one result every prediction of the serving core returns.

Adapters translate it with :mod:`mldeploy.serving.codecs`, which owns every
encoding of it (JSON, columns, messages, Arrow, the process-hop bytes); it names the
version that produced it and the path that served it, so an answer can always
be traced to a bundle even while versions swap underneath.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np

from mldeploy.bundle import BundleRef
from mldeploy.errors import Issue

__all__ = ["Accepted", "Prediction", "ServingPath"]


class ServingPath(str, Enum):
    """Which engine computed a prediction."""

    COMPILED = "compiled"
    """The bundle's exact compiled form (microseconds per row)."""
    SCIKIT_LEARN = "scikit-learn"
    """The scikit-learn pipeline itself."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, eq=False, slots=True)
class Prediction:
    """Predictions for a batch of rows, with the version and path that produced them.

    ``values`` holds one value per row: a number for a regressor, a class label
    for a classifier. ``probabilities`` has one column per class (in
    ``classes`` order) for a classifier that gives them, else None.
    """

    ref: BundleRef
    path: ServingPath
    values: np.ndarray
    probabilities: np.ndarray | None = None
    classes: tuple | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def version(self) -> int | None:
        """The version number that produced these predictions."""
        return self.ref.version

    def slice(self, start: int, stop: int) -> "Prediction":
        """Return the predictions of rows ``start`` to ``stop`` (e.g. one request of a micro-batch)."""
        proba = self.probabilities[start:stop] if self.probabilities is not None else None
        return Prediction(self.ref, self.path, self.values[start:stop], proba, self.classes)

    def __repr__(self) -> str:
        return f"Prediction({self.ref}, {self.path.value}, rows={len(self)})"


@dataclass(frozen=True, eq=False, slots=True)
class Accepted:
    """Predictions for the rows a model accepted, beside every issue of each row it refused.

    What :meth:`Model.infer_accepted <mldeploy.serving.model.Model.infer_accepted>` returns: the
    accepted rows were predicted together in one call. Each adapter maps ``refused`` to its own
    answer (a 422 for the request that sent the row, a dead letter, a rejects row).
    """

    prediction: Prediction
    """One prediction per accepted row, in input order."""
    refused: Mapping[int, list[Issue]]
    """Input position of each refused row -> its issues (numbered with that position), in input order."""
    hint: str = ""
    """What the validator advised for the refused rows (a SchemaError's ``hint``)."""

    @property
    def positions(self) -> list[int]:
        """The input position of each predicted row."""
        rows = len(self.prediction) + len(self.refused)
        return [p for p in range(rows) if p not in self.refused] if self.refused else list(range(rows))

    def index_of(self, position: int) -> int:
        """Return where the accepted row at input ``position`` sits in ``prediction``."""
        if not self.refused:
            return position
        return position - bisect_left(list(self.refused), position)

    def __repr__(self) -> str:
        return f"Accepted({self.prediction!r}, refused={len(self.refused)})"
