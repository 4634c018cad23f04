"""One writer per batch run: a lease the operating system or the database drops when its holder dies.

Two processes writing one run (a ``--resume`` while the run is still going, or
two resumes at once) would each count the same chunks: the run's final counts
would be wrong, though no key is stored twice. A run's writer holds its lease
from before the run is recorded (or reopened) to its end. On PostgreSQL it is a
session advisory lock, held by one connection of its own; on a SQLite file, a
POSIX lock on the run's byte of ``<database>-runs.lock``. Either goes the
moment the process exits, SIGKILL included, so a killed run resumes at once,
and a live one is never resumed under it. Without ``fcntl`` (Windows) a SQLite
lease holds within one process only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from mldeploy.errors import ConfigError, RunBusyError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["advisory_lease", "file_lease"]

_ADVISORY_CLASS = 0x6D6C64
"""The first key of mldeploy's advisory locks ("mld"), so they never meet another application's."""
_log = logging.getLogger(__name__)


def _busy(location: str, run_id: str) -> RunBusyError:
    return RunBusyError(f"run {run_id} in {location} is being written by another process right now; wait for it "
                        "to end (its row in prediction_runs shows its progress), then resume it if it did not finish")


@contextmanager
def advisory_lease(engine, location: str, run_id: str) -> Iterator[None]:
    """Hold ``run_id``'s lease in a PostgreSQL store: a session advisory lock on a connection of its own."""
    key = int(run_id[:8], 16) - 2**31  # a signed 32-bit key from the run's hex id
    # autocommit: the lock outlives transactions, and no transaction stays open for the run's length
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": _ADVISORY_CLASS, "k": key}).scalar():
            raise _busy(location, run_id)
        try:
            yield
        finally:
            _unlock(conn, key, location)
    finally:
        conn.close()


def _unlock(conn, key: int, location: str) -> None:
    """Release the lock; if the session is gone, so is the lock, and the connection must not return to the pool."""
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": _ADVISORY_CLASS, "k": key})
    except Exception as exc:  # the run's own outcome matters more than its lease's
        _log.warning("releasing a run's lease in %s failed (%s); the lease went with its session", location, exc)
        conn.invalidate()


class _LockFiles:
    """This process's open lock files and the bytes it holds in each.

    A POSIX lock goes when its process closes *any* descriptor of the file, so each lock
    file is opened once and closed only when this process holds none of its bytes.
    POSIX locks never conflict within one process either: the bytes held are kept here.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._open: dict[Path, tuple[int, set[int]]] = {}

    def take(self, path: Path, offset: int) -> bool:
        """Lock byte ``offset`` of ``path``; False when this or another process holds it."""
        with self._guard:
            descriptor, held = self._open.get(path) or (_open_lock_file(path), set())
            if offset in held or not _lock_byte(descriptor, offset):
                if not held:  # opened just now for this byte: closing it drops no other lock
                    os.close(descriptor)
                return False
            held.add(offset)
            self._open[path] = (descriptor, held)
            return True

    def give_back(self, path: Path, offset: int) -> None:
        """Unlock byte ``offset`` of ``path``, closing the file once no byte of it is held."""
        with self._guard:
            descriptor, held = self._open[path]
            held.discard(offset)
            _unlock_byte(descriptor, offset)
            if not held:
                os.close(descriptor)
                del self._open[path]


_LOCK_FILES = _LockFiles()


@contextmanager
def file_lease(database: Path, location: str, run_id: str) -> Iterator[None]:
    """Hold ``run_id``'s lease in a SQLite store: a lock on the run's byte of ``<database>-runs.lock``."""
    path = database.resolve().with_name(f"{database.name}-runs.lock")
    offset = int(run_id[:12], 16)
    if not _LOCK_FILES.take(path, offset):
        raise _busy(location, run_id)
    try:
        yield
    finally:
        _LOCK_FILES.give_back(path, offset)


def _open_lock_file(path: Path) -> int:
    """Open (or make) the lock file; as readable and writable as SQLite makes its own files, so every writer can lock."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f"cannot open {path}, where batch runs take their leases ({exc.strerror}); let every user "
                          "that writes this prediction store write that file too") from exc


def _lock_byte(descriptor: int, offset: int) -> bool:
    if fcntl is None:  # Windows: leases hold within this process only
        return True
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    except OSError:
        return False
    return True


def _unlock_byte(descriptor: int, offset: int) -> None:
    if fcntl is not None:
        fcntl.lockf(descriptor, fcntl.LOCK_UN, 1, offset)
