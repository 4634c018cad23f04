"""BatchJobConfig: where a batch job writes and how much it scores at a time, checked once where it is built.

Kept apart from the job so that the command line takes its defaults from
these fields without importing the job's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

from mldeploy._constraints import bounded, check_fields
from mldeploy.bundle.options import check_extra

__all__ = ["BatchJobConfig"]


@dataclass(frozen=True)
class BatchJobConfig:
    """The settings of one batch job that have defaults; the model, input and key are the job's own."""

    store_url: str = "sqlite:///predictions.db"
    """The prediction database: ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``."""
    chunk_rows: int = bounded(65_536, 1, 16_777_216, flag="--chunk-rows")
    """Rows read, scored and committed at a time: memory is bounded by this, and a resumed run repeats at most one chunk."""
    extra: str = "ignore"
    """``ignore`` input columns the model does not know (ids, targets), or ``reject`` them."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_extra(self.extra)
