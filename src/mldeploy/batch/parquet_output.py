"""Also write a run's predictions to a Parquet file, chunk by chunk (``--parquet-out``)."""

from __future__ import annotations

from pathlib import Path

from mldeploy._extras import require
from mldeploy.batch.chunk import ScoredChunk
from mldeploy.batch.records import RunRecord
from mldeploy.errors import ConfigError
from mldeploy.serving import codecs

__all__ = ["ParquetOutput"]


class ParquetOutput:
    """A Parquet file in the serving core's prediction layout, plus the run id.

    Columns: ``key``, ``prediction`` (a value, or a classifier's label), one
    ``probability_<class>`` per class for classifiers, ``model_name``,
    ``model_version`` and ``run_id``. A resumed run writes the rows it scores
    after the resume.
    """

    def __init__(self, path: Path, run: RunRecord):
        self._path, self._run = Path(path), run
        self._writer = None

    def write(self, chunk: ScoredChunk) -> None:
        """Append one chunk's scored rows."""
        pa, parquet = require("pyarrow"), require("pyarrow.parquet")
        if not len(chunk.prediction):
            return  # every row of the chunk was rejected: an empty table would fix the file's schema with no types
        table = codecs.prediction_arrow(chunk.prediction, keys=chunk.keys)
        table = table.append_column("run_id", pa.array([self._run.run_id] * table.num_rows, pa.string()))
        try:
            if self._writer is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = parquet.ParquetWriter(self._path, table.schema)
            self._writer.write_table(table)
        except OSError as exc:
            raise ConfigError(f"cannot write {self._path}: {exc}; choose a writable --parquet-out path") from exc

    def close(self) -> None:
        """Finish the file (its footer); without it the file is unreadable."""
        if self._writer is not None:
            self._writer.close()
