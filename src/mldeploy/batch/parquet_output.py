"""Also write a run's predictions to a Parquet file, chunk by chunk (``--parquet-out``)."""

from __future__ import annotations

from pathlib import Path

from mldeploy._extras import require
from mldeploy.batch.chunk import ScoredChunk
from mldeploy.batch.records import RunRecord
from mldeploy.errors import ConfigError

__all__ = ["ParquetOutput"]


class ParquetOutput:
    """A Parquet file of key, model_name, model_version, run_id and the prediction columns.

    Regressors give ``prediction``; classifiers ``label`` and one
    ``probability_<class>`` column per class. A resumed run writes the rows
    it scores after the resume.
    """

    def __init__(self, path: Path, run: RunRecord):
        self._path, self._run = Path(path), run
        self._writer = None

    def write(self, chunk: ScoredChunk) -> None:
        """Append one chunk's scored rows."""
        pa, parquet = require("pyarrow"), require("pyarrow.parquet")
        count = len(chunk.keys)
        columns = {
            "key": pa.array(chunk.keys, pa.string()),
            "model_name": pa.array([self._run.model_name] * count, pa.string()),
            "model_version": pa.array([self._run.model_version] * count, pa.int64()),
            "run_id": pa.array([self._run.run_id] * count, pa.string()),
        }
        if chunk.is_classification:
            columns["label"] = pa.array([str(v) for v in chunk.values.tolist()], pa.string())
            for index, label in enumerate(chunk.classes):
                columns[f"probability_{label}"] = pa.array(chunk.probabilities[:, index], pa.float64())
        else:
            columns["prediction"] = pa.array(chunk.values, pa.float64())
        table = pa.table(columns)
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
