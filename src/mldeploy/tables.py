"""Read and write tables (CSV, Parquet, JSON) for the command line and file-based jobs.

Errors name the file, the line where pandas found it, and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mldeploy._extras import require
from mldeploy.errors import ConfigError

__all__ = ["FORMATS", "read_table", "write_table"]

FORMATS = (".csv", ".parquet", ".json", ".jsonl")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet, JSON (list of objects) or JSON Lines file into a DataFrame."""
    path = Path(path)
    kind = _format_of(path)
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist; check the path")
    try:
        if kind == ".csv":
            return pd.read_csv(path)
        if kind == ".parquet":
            require("pyarrow")
            return pd.read_parquet(path)
        return _read_json(path, lines=kind == ".jsonl")
    except pd.errors.EmptyDataError as exc:
        raise ConfigError(f"{path} is empty; give a file with a header row and data") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a valid {kind[1:].upper()} file: {_first_line(exc)}") from exc


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV, Parquet, JSON (list of objects) or JSON Lines, by file suffix."""
    path = Path(path)
    kind = _format_of(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == ".csv":
            frame.to_csv(path, index=False)
        elif kind == ".parquet":
            require("pyarrow")
            frame.to_parquet(path, index=False)
        else:
            frame.to_json(path, orient="records", lines=kind == ".jsonl")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}; choose a writable path") from exc
    return path


def _read_json(path: Path, lines: bool) -> pd.DataFrame:
    if lines:
        return pd.read_json(path, lines=True, dtype=False)
    data = json.loads(path.read_text())
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("expected a JSON list of objects or one object")
    bad = next((i for i, item in enumerate(data) if not isinstance(item, dict)), None)
    if bad is not None:
        raise ValueError(f"item {bad} is a {type(data[bad]).__name__}, expected an object of fields")
    return pd.DataFrame.from_records(data)


def _format_of(path: Path) -> str:
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"{path}: unknown file type {path.suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    return path.suffix.lower()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
