"""The engine protocol: what scores a prepared run, and what it is handed.

The job (:mod:`mldeploy.batch.job`) does everything that must happen once
and before anything is written: resolve the model, check the input and its
keys, record the run. An engine then reads, scores and writes the rows and
reports progress; ``local`` overlaps the three stages on one machine,
``spark`` spreads them over a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.batch.records import RunRecord
from mldeploy.batch.input_tables import InputTable

__all__ = ["Engine", "OnProgress", "RunPlan"]

OnProgress = Callable[[int, "int | None"], None]
"""Called after each committed chunk with (input rows done, total rows or None)."""


@dataclass(frozen=True)
class RunPlan:
    """Everything an engine needs for one run; the model is the version the run resolved at its start."""

    source: InputTable
    key: str
    model: object
    bundle_archive: Callable[[], bytes]
    """Returns the model's bundle as one archive (what the Spark engine ships to executors)."""
    store: PredictionStore
    run: RunRecord
    chunk_rows: int
    text_columns: bool
    """The input was read as text (CSV): type it by the model's schema."""
    parquet_out: Path | None = None
    trusted: tuple = ()
    """Types the pipeline may hold beyond the defaults (the Spark workers load the bundle with them too)."""
    extra: str = "ignore"
    """``ignore`` columns the model does not know (the usual case: ids, targets), or ``reject`` them."""

    def columns(self, available: list[str]) -> tuple[list[str], list[str]]:
        """Return (columns to read, the feature columns among them) for an input with ``available`` columns."""
        names = self.model.schema.names
        if self.extra == "reject":  # unknown columns go to the serving core, which names them
            features = [c for c in available if c != self.key or c in names]
        else:
            features = list(names)
        return list(dict.fromkeys([self.key, *features])), features


class Engine(Protocol):
    """Reads, scores and writes one run's rows, committing chunk by chunk."""

    name: str
    model_threads: int | None
    """Threads the job loads the run's model with (see :class:`mldeploy.serving.Model`); None: every core."""

    def execute(self, plan: RunPlan, on_progress: OnProgress | None = None) -> None:
        """Score every row of ``plan.source`` past ``plan.run.rows_done`` into ``plan.store``."""
