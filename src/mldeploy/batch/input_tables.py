"""Read a batch job's input in chunks: a CSV file, Parquet (a file or a folder of files), or a database table or query.

Every source yields Arrow tables of at most ``chunk_rows`` rows, in a fixed
order (a query is ordered by its key column), so a resumed run can skip
exactly the rows a crashed run committed. Example::

    source = open_input("people.parquet")
    for table in source.iter_tables(["employee_id", "age"], chunk_rows=65_536, skip_rows=0):
        ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mldeploy._extras import require
from mldeploy.errors import ConfigError

__all__ = ["InputTable", "RowGroup", "open_input", "read_row_group"]

_HASH_BLOCK = 1 << 20
_CSV_BLOCK_BYTES = 4 << 20


class InputTable(Protocol):
    """Where a batch run reads its rows."""

    description: str

    def columns(self) -> list[str]:
        """Return the input's column names."""

    def fingerprint(self) -> str:
        """Return a SHA-256 that changes when the input does (a resumed run must read the same rows)."""

    def count_rows(self) -> int | None:
        """Return the number of rows when it is cheap to know, else None."""

    def iter_tables(self, columns: list[str], chunk_rows: int, skip_rows: int = 0) -> Iterator:
        """Yield ``pyarrow.Table`` chunks of the given columns, skipping the first ``skip_rows`` rows."""


def open_input(input: str | Path, table: str | None = None, query: str | None = None, key: str | None = None) -> InputTable:
    """Open a CSV or Parquet path, or a database URL with ``table`` or ``query`` (read in ``key`` order)."""
    text = str(input)
    if "://" in text:
        from mldeploy.batch.database_table import DatabaseTable

        return DatabaseTable(text, table=table, query=query, order_by=key)
    if table or query:
        raise ConfigError(f"--table and --query need a database URL as input, got the path {text}")
    path = Path(text)
    if not path.exists():
        raise ConfigError(f"input {path} does not exist; check the path")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise ConfigError(f"input folder {path} holds no .parquet files; give a CSV or Parquet file or such a folder")
        return ParquetTable(path, files)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return ParquetTable(path, [path])
    if suffix == ".csv":
        return CsvTable(path)
    raise ConfigError(f"input {path}: unknown file type {suffix or '(none)'}; use .csv, .parquet or a folder of .parquet files")


class ParquetTable:
    """One Parquet file or a folder of them (read in sorted path order)."""

    def __init__(self, path: Path, files: list[Path]):
        self.description = str(path)
        self._root = path
        self._files = files
        self._pq = require("pyarrow.parquet")
        try:
            self._opened = [self._pq.ParquetFile(f) for f in files]
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise ConfigError(f"{path} is not a readable Parquet input: {_first_line(exc)}") from exc
        names = [f.schema_arrow.names for f in self._opened]
        if any(n != names[0] for n in names):
            odd = next(f for f, n in zip(files, names) if n != names[0])
            raise ConfigError(f"{odd} has columns {names[files.index(odd)]}, unlike {files[0]} ({names[0]}); "
                              "a folder's files must share their columns")

    @property
    def files(self) -> list[Path]:
        """The Parquet files, in the order they are read."""
        return list(self._files)

    def columns(self) -> list[str]:
        return list(self._opened[0].schema_arrow.names)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for file in self._files:
            digest.update(str(file.relative_to(self._root) if file != self._root else file.name).encode() + b"\0")
            _hash_file(digest, file)
        return digest.hexdigest()

    def count_rows(self) -> int:
        return sum(f.metadata.num_rows for f in self._opened)

    def row_groups(self) -> list[RowGroup]:
        """Every row group of every file, in reading order, each with its first row's number in the input."""
        groups, first = [], 0
        for file, opened in zip(self._files, self._opened):
            for index in range(opened.metadata.num_row_groups):
                groups.append(RowGroup(str(Path(file).resolve()), index, first))  # workers may start elsewhere
                first += opened.metadata.row_group(index).num_rows
        return groups

    def iter_tables(self, columns: list[str], chunk_rows: int, skip_rows: int = 0) -> Iterator:
        pa = require("pyarrow")
        for file, opened in zip(self._files, self._opened):
            rows = opened.metadata.num_rows
            if skip_rows >= rows:  # a whole file already done
                skip_rows -= rows
                continue
            try:
                for batch in opened.iter_batches(batch_size=chunk_rows, columns=columns):
                    if skip_rows >= batch.num_rows:
                        skip_rows -= batch.num_rows
                        continue
                    yield pa.Table.from_batches([batch.slice(skip_rows)])
                    skip_rows = 0
            except (OSError, ValueError) as exc:
                raise _damaged(file, exc) from exc


@dataclass(frozen=True)
class RowGroup:
    """One row group of a Parquet input: a share of the rows that a worker can read by itself."""

    file: str
    index: int
    first_row: int
    """Its first row's number in the whole input (files in reading order)."""


def read_row_group(group: RowGroup, columns: list[str], chunk_rows: int) -> Iterator:
    """Yield (first row number, Arrow table) for ``group``'s rows, ``chunk_rows`` at a time."""
    pa = require("pyarrow")
    first = group.first_row
    try:
        opened = require("pyarrow.parquet").ParquetFile(group.file)
        for batch in opened.iter_batches(batch_size=chunk_rows, row_groups=[group.index], columns=columns):
            yield first, pa.Table.from_batches([batch])
            first += batch.num_rows
    except (OSError, ValueError) as exc:
        raise _damaged(group.file, exc) from exc


class CsvTable:
    """A CSV file with a header row; an empty cell is a missing value.

    Every column is read as text and then typed as the model expects
    (see :func:`mldeploy.batch.typing.type_columns`), so one bad value makes
    one rejected row instead of an unreadable file.
    """

    def __init__(self, path: Path):
        self.description = str(path)
        self._path = path
        self._csv = require("pyarrow.csv")
        self._names = self._header()

    @property
    def files(self) -> list[Path]:
        """The one CSV file."""
        return [self._path]

    def columns(self) -> list[str]:
        return list(self._names)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        _hash_file(digest, self._path)
        return digest.hexdigest()

    def count_rows(self) -> None:
        return None  # counting would read the whole file once more

    def iter_tables(self, columns: list[str], chunk_rows: int, skip_rows: int = 0) -> Iterator:
        pa = require("pyarrow")
        reader = self._open(columns)
        pending, pending_rows = [], 0
        try:
            for batch in reader:
                if skip_rows >= batch.num_rows:
                    skip_rows -= batch.num_rows
                    continue
                batch, skip_rows = batch.slice(skip_rows), 0
                pending.append(batch)
                pending_rows += batch.num_rows
                while pending_rows >= chunk_rows:  # CSV blocks are sized in bytes: re-cut them into chunks of rows
                    joined = pa.Table.from_batches(pending)
                    yield joined.slice(0, chunk_rows)
                    rest = joined.slice(chunk_rows)
                    pending, pending_rows = rest.to_batches(), rest.num_rows
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self._path}: {_first_line(exc)}; fix the file (every line needs "
                              f"{len(self._names)} fields)") from exc
        if pending_rows:
            yield pa.Table.from_batches(pending)

    def _open(self, columns: list[str]):
        pa = require("pyarrow")
        csv = self._csv
        convert = csv.ConvertOptions(include_columns=columns, column_types={c: pa.string() for c in columns},
                                     strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False)
        try:
            return csv.open_csv(self._path, read_options=csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                                convert_options=convert)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self._path}: {_first_line(exc)}") from exc

    def _header(self) -> list[str]:
        try:
            reader = self._csv.open_csv(self._path, read_options=self._csv.ReadOptions(block_size=1 << 16))
            names = list(reader.schema.names)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self._path} is not a readable CSV file: {_first_line(exc)}; "
                              "give a CSV file with a header row and as many fields on every line") from exc
        _check_delimiter(self._path, names)
        return names


def _check_delimiter(path: Path, names: list[str]) -> None:
    """A header read as one column that holds another separator: the file is not comma-separated."""
    separator = next((s for s in (";", "\t", "|") if len(names) == 1 and s in names[0]), None)
    if separator is not None:
        shown = {"\t": "tabs"}.get(separator, repr(separator))
        raise ConfigError(f"{path} reads as one column ({names[0][:60]!r}): its fields seem separated by {shown}, "
                          "and mldeploy reads comma-separated CSV; save it with commas between fields")


def _hash_file(digest, path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _damaged(file, exc: Exception) -> ConfigError:
    """A Parquet file that opened but whose rows cannot be read, and what to do about it."""
    return ConfigError(f"cannot read {file}: {_first_line(exc)}; the file is damaged or not Parquet: write it again, "
                       "or leave it out of the input")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
