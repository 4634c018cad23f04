"""One writer per batch run: a lease the operating system or the database drops when its holder dies.

Two processes writing one run (a ``--resume`` while the run is still going, or
two resumes at once) would each count the same chunks: the run's final counts
would be wrong, though no key is stored twice. A run's writer holds its lease
from start to end. On PostgreSQL it is a session advisory lock, held by one
connection; on a SQLite file, a lock on one byte of ``<database>-runs.lock``
(one byte a run). Either goes the moment the process exits, SIGKILL included,
so a killed run resumes at once, and a live one is never resumed under it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from mldeploy.errors import ConfigError

__all__ = ["RunBusyError", "advisory_lease", "file_lease"]

_ADVISORY_CLASS = 0x6D6C64
"""The first key of mldeploy's advisory locks ("mld"), so they never meet another application's."""
_held_here: set[tuple[str, str]] = set()
"""SQLite leases this process holds: POSIX record locks never conflict within one process."""
_held_lock = threading.Lock()


class RunBusyError(ConfigError):
    """Another writer holds the run right now."""


def _busy(location: str, run_id: str) -> RunBusyError:
    return RunBusyError(f"run {run_id} in {location} is being written by another process right now; wait for it "
                        "to end (mldeploy runs lists its progress), then resume it if it did not finish")


@contextmanager
def advisory_lease(engine, location: str, run_id: str) -> Iterator[None]:
    """Hold ``run_id``'s lease in a PostgreSQL store: a session advisory lock on a connection of its own."""
    key = int(run_id[:8], 16) - 2**31  # a signed 32-bit key from the run's hex id
    # autocommit: the lock outlives transactions, and no transaction stays open for the run's length
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": _ADVISORY_CLASS, "k": key}).scalar():
            raise _busy(location, run_id)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": _ADVISORY_CLASS, "k": key})


@contextmanager
def file_lease(database: Path, location: str, run_id: str) -> Iterator[None]:
    """Hold ``run_id``'s lease in a SQLite store: a lock on the run's byte of ``<database>-runs.lock``."""
    place = (str(database.resolve()), run_id)
    with _held_lock:
        if place in _held_here:
            raise _busy(location, run_id)
        _held_here.add(place)
    try:
        descriptor = os.open(database.with_name(f"{database.name}-runs.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_byte(descriptor, int(run_id[:12], 16), location, run_id)
            yield
        finally:
            os.close(descriptor)  # closing drops this process's locks on the file
    finally:
        with _held_lock:
            _held_here.discard(place)


def _lock_byte(descriptor: int, offset: int, location: str, run_id: str) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: leases hold within this process only
        return
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    except OSError:
        raise _busy(location, run_id) from None
