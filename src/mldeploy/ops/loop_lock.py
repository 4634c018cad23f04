"""Hold the loop's lock on a model: a lease row in the registry's database, renewed at every step.

Two loops on one registry (two machines, or a cron job that overlaps itself)
never both hold it, because taking it is one compare-and-set in the
database. A holder that died on this machine is replaced at once; one on
another machine when its lease runs out.
"""

from __future__ import annotations

import os
import socket
import uuid

from mldeploy.errors import RegistryError

__all__ = ["LoopLock", "holder_name"]


def holder_name() -> str:
    """Return a name for this process as a lock holder: ``loop@HOST:PID:NONCE``."""
    return f"loop@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LoopLock:
    """The lock of one model's loop, held by ``holder`` for ``lease_s`` seconds at a time."""

    def __init__(self, journal, name: str, holder: str, lease_s: float):
        self.journal, self.name, self.holder, self.lease_s = journal, name, holder, lease_s

    def acquire(self) -> bool:
        """Take the lock (replacing a dead holder on this machine); False while another live loop holds it."""
        current = self.journal.lock_holder(self.name)
        replacing = current if current is not None and _is_dead_here(current) else None
        return self.journal.acquire_lock(self.name, self.holder, self.lease_s, replacing=replacing)

    def renew(self) -> None:
        """Extend the lease; raises RegistryError if another loop took the lock meanwhile (so this one stops)."""
        if not self.journal.acquire_lock(self.name, self.holder, self.lease_s):
            raise RegistryError(f"the loop lock on {self.name} was taken by {self.journal.lock_holder(self.name)} "
                                "while this loop worked (its lease ran out); this pass stops without promoting")

    def release(self) -> None:
        """Give the lock up."""
        self.journal.release_lock(self.name, self.holder)


def _is_dead_here(holder: str) -> bool:
    """Tell whether ``holder`` names a process on this machine that no longer runs."""
    try:
        host, pid = holder.removeprefix("loop@").rsplit(":", 2)[:2]
        pid_number = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, under another user
    return False
