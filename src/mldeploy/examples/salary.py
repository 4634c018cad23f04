"""Generate a realistic employee salary table and the pipeline that estimates it.

The running example of mldeploy: a company puts a salary estimator on its
careers website. The data is synthetic, reproducible from a seed, and can be
made in chunks of bounded memory for any number of rows::

    from mldeploy.examples import salary
    train = salary.generate(rows=50_000, seed=7)
    later = salary.generate(rows=1_000, seed=8, drift=0.2)   # shifted, with unseen categories and higher pay
    pipeline = salary.default_pipeline().fit(train.drop(columns="salary"), train["salary"])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy.ops.training import ColumnKinds, default_pipeline as _generic_pipeline

__all__ = ["COLUMNS", "TARGET", "default_pipeline", "generate", "iter_chunks", "write"]

TARGET = "salary"
COLUMNS = ColumnKinds(
    numeric=("years_experience", "age", "certifications", "performance_rating", "weekly_hours", "company_size"),
    categorical=("education", "job_family", "level", "city"),
    boolean=("remote",),
    log_numeric=("company_size",),
)

# Rows are drawn in fixed blocks with their own seeds, so a table is the same
# whatever chunk size the caller asks for.
_BLOCK_ROWS = 10_000

_EDUCATION = {"high_school": 0.0, "associate": 0.04, "bachelor": 0.10, "master": 0.16, "phd": 0.22}
_EDUCATION_P = [0.12, 0.08, 0.45, 0.28, 0.07]
_FAMILY_BASE = {
    "engineering": 118_000, "data_science": 122_000, "product": 115_000, "design": 95_000,
    "sales": 80_000, "marketing": 82_000, "finance": 90_000, "hr": 72_000,
    "operations": 70_000, "legal": 110_000,
}
_FAMILY_P = [0.30, 0.10, 0.08, 0.06, 0.12, 0.08, 0.08, 0.05, 0.09, 0.04]
_LEVELS = ["junior", "mid", "senior", "staff", "principal", "director"]
_LEVEL_MULT = np.array([0.72, 0.90, 1.12, 1.38, 1.62, 1.85])
_CITY_INDEX = {
    "san_francisco": 1.32, "new_york": 1.28, "seattle": 1.22, "boston": 1.15, "austin": 1.02,
    "chicago": 1.00, "denver": 0.98, "atlanta": 0.93, "raleigh": 0.90, "remote_us": 0.95,
}
_CITY_P = [0.15, 0.15, 0.11, 0.08, 0.09, 0.09, 0.07, 0.07, 0.05, 0.14]
# Drift brings places and jobs that training never saw.
_NEW_CITIES = ["lisbon", "toronto", "berlin"]
_NEW_FAMILIES = ["ai_research"]
_INFLATION = 0.15


def generate(rows: int, seed: int = 0, drift: float = 0.0, inflation: float = _INFLATION) -> pd.DataFrame:
    """Return ``rows`` salary records, the target column ``salary`` included.

    ``drift`` in [0, 1] shifts distributions (more experience, more missing
    ratings), gives a share of rows categories unseen in training, and raises
    pay by ``inflation`` per unit of drift (a change no input shows; 0 keeps
    the pay rule as in training, so only the inputs drift). The same
    arguments always give the same table.
    """
    chunks = list(iter_chunks(rows, seed=seed, drift=drift, inflation=inflation))
    if not chunks:
        return _block(0, np.random.default_rng(seed), drift, inflation)
    return pd.concat(chunks, ignore_index=True)


def iter_chunks(rows: int, seed: int = 0, drift: float = 0.0, chunk_rows: int = _BLOCK_ROWS,
                inflation: float = _INFLATION) -> Iterator[pd.DataFrame]:
    """Yield the table of :func:`generate` in chunks of at most ``chunk_rows`` rows.

    Memory stays bounded by the chunk size, so any number of rows can be
    written to a file.
    """
    _check_arguments(rows, drift, chunk_rows)
    if not 0.0 <= inflation <= 1.0:
        raise ValueError(f"inflation: expected a number in [0, 1], got {inflation}")
    buffer: list[pd.DataFrame] = []
    buffered = 0
    for start in range(0, rows, _BLOCK_ROWS):
        block_seed = np.random.SeedSequence([seed, start // _BLOCK_ROWS])
        buffer.append(_block(min(_BLOCK_ROWS, rows - start), np.random.default_rng(block_seed), drift, inflation))
        buffered += len(buffer[-1])
        while buffered >= chunk_rows:
            joined = pd.concat(buffer, ignore_index=True)
            yield joined.iloc[:chunk_rows].reset_index(drop=True)
            buffer, buffered = [joined.iloc[chunk_rows:]], len(joined) - chunk_rows
    if buffered:
        yield pd.concat(buffer, ignore_index=True)


def write(path: str | Path, rows: int, seed: int = 0, drift: float = 0.0, features_only: bool = False,
          key: str | None = None) -> Path:
    """Write the table to a CSV or Parquet file chunk by chunk and return its path.

    ``features_only`` leaves out the salary: rows to predict, as an app would send them.
    ``key`` adds a first column of that name numbering the rows from 10000 (an id for batch scoring).
    """
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise ValueError(f"cannot write {path}: expected a .csv or .parquet file name")
    if key is not None and (not key.strip() or key in (*COLUMNS.numeric, *COLUMNS.categorical, *COLUMNS.boolean, TARGET)):
        raise ValueError(f"key {key!r}: expected a new column name, not empty and not one of the table's columns")
    chunks = _keyed((chunk.drop(columns=TARGET) if features_only else chunk for chunk in iter_chunks(rows, seed, drift)),
                    key)
    if path.suffix == ".csv":
        for index, chunk in enumerate(chunks):
            chunk.to_csv(path, mode="w" if index == 0 else "a", header=index == 0, index=False)
        return path
    from mldeploy._extras import require

    parquet = require("pyarrow.parquet")
    pa = require("pyarrow")
    writer = None
    for chunk in chunks:
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or parquet.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    return path


def _keyed(chunks: Iterator[pd.DataFrame], key: str | None) -> Iterator[pd.DataFrame]:
    """Number the rows of consecutive chunks in a first column ``key``, from 10000."""
    first = 10_000
    for chunk in chunks:
        if key is not None:
            chunk = chunk.assign(**{key: np.arange(first, first + len(chunk))})[[key, *chunk.columns]]
            first += len(chunk)
        yield chunk


def default_pipeline(max_iter: int = 200, select_k: int = 28):
    """Return the unfitted salary pipeline: feature engineering, selection, gradient boosting."""
    return _generic_pipeline(COLUMNS, task="regression", max_iter=max_iter, select_k=select_k)


def _check_arguments(rows: int, drift: float, chunk_rows: int) -> None:
    if rows < 0:
        raise ValueError(f"rows: expected a count >= 0, got {rows}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift: expected a number in [0, 1], got {drift}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: expected a count >= 1, got {chunk_rows}")


def _block(rows: int, rng: np.random.Generator, drift: float, inflation: float) -> pd.DataFrame:
    years = np.clip(rng.gamma(2.2, 4.2, rows) + 5.0 * drift, 0, 45).round(1)
    age = np.clip(np.round(22 + years + rng.normal(2, 3, rows)), 18, 70).astype("int64")
    level_index = np.clip((years / 4.5 + rng.normal(0, 0.9, rows)).astype(int), 0, 5)
    frame = pd.DataFrame({
        "years_experience": years,
        "age": age,
        "education": _with_nulls(rng.choice(list(_EDUCATION), rows, p=_EDUCATION_P), rng, 0.03),
        "job_family": _with_unseen(rng.choice(list(_FAMILY_BASE), rows, p=_FAMILY_P), _NEW_FAMILIES, rng, 0.1 * drift),
        "level": np.array(_LEVELS, dtype=object)[level_index],
        "city": _with_unseen(rng.choice(list(_CITY_INDEX), rows, p=_CITY_P), _NEW_CITIES, rng, 0.3 * drift),
        "remote": rng.random(rows) < 0.3,
        "company_size": _with_nulls(np.round(np.exp(rng.normal(6.5, 1.8, rows)).clip(3, 250_000)), rng, 0.05),
        "certifications": rng.poisson(1.2, rows).clip(0, 12).astype("int64"),
        "performance_rating": _with_nulls(np.clip(rng.normal(3.4, 0.7, rows), 1, 5).round(1), rng, 0.1 + 0.2 * drift),
        "weekly_hours": np.clip(rng.normal(42, 5, rows), 20, 70).round(1),
    })
    frame[TARGET] = _salary(frame, level_index, rng, drift * inflation)
    return frame


def _salary(frame: pd.DataFrame, level_index: np.ndarray, rng: np.random.Generator, raise_share: float) -> np.ndarray:
    base = frame["job_family"].map(_FAMILY_BASE).fillna(125_000).to_numpy()
    city = frame["city"].map(_CITY_INDEX).fillna(1.05).to_numpy()
    remote_cut = np.where(frame["remote"] & (city > 1.1), 0.93, 1.0)
    education = 1 + frame["education"].map(_EDUCATION).fillna(0.05).to_numpy()
    experience = 0.75 + 0.45 * (1 - np.exp(-frame["years_experience"].to_numpy() / 7.0))
    size = 1 + 0.035 * np.log10(frame["company_size"].fillna(500).to_numpy())
    rating = 1 + 0.04 * (frame["performance_rating"].fillna(3.4).to_numpy() - 3.4)
    certs = 1 + 0.012 * np.sqrt(frame["certifications"].to_numpy())
    overtime = 1 + 0.004 * np.clip(frame["weekly_hours"].to_numpy() - 40, -10, 20)
    noise = np.exp(rng.normal(0, 0.07, len(frame)))
    salary = base * _LEVEL_MULT[level_index] * city * remote_cut * education * experience * size * rating * certs * overtime
    return np.round(salary * noise * (1 + raise_share), 2)


def _with_nulls(values: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    values = values.astype(object if values.dtype.kind in "OU" else "float64")
    values[rng.random(len(values)) < share] = None if values.dtype == object else np.nan
    return values


def _with_unseen(values: np.ndarray, unseen: list[str], rng: np.random.Generator, share: float) -> np.ndarray:
    values = values.astype(object)
    if share > 0:
        chosen = rng.random(len(values)) < share
        values[chosen] = rng.choice(unseen, int(chosen.sum()))
    return values
