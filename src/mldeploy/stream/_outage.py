"""OutageClock: how long Kafka has kept a scorer from its work, against how long it may (``--outage-limit``).

A broker that restarts or moves is away for seconds to minutes; the clients
reconnect by themselves. The scorer retries what failed meanwhile (its
transaction aborted and its events read again, or its commit tried again)
and gives up only once the broker has been away longer than the limit, with
one line that says what to check. Every blocking call gets a finite timeout
from the clock, so none outlasts the limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from mldeploy.errors import BackendError

__all__ = ["OutageClock", "Wedged", "call_within"]

log = logging.getLogger("mldeploy.stream.scorer")

_CALL_S = 5.0
"""The longest a single Kafka call blocks: long enough for a broker that is up, short enough to notice one that is not."""
_PROBE_EVERY_S = 1.0
_GRACE_S = 5.0
"""How long past its own timeout a call may take before the client counts as wedged."""

T = TypeVar("T")


class OutageClock:
    """Start at the first failure, stop at the next success; raise BackendError once failing outlasts ``limit_s``."""

    def __init__(self, limit_s: float, where: str, clock: Callable[[], float] = time.monotonic):
        self.limit_s = limit_s
        self.where = where
        self._clock = clock
        self._since: float | None = None
        self._probed_at = 0.0

    @property
    def is_running(self) -> bool:
        """Whether Kafka is failing now (no success since the last failure)."""
        return self._since is not None

    def call_s(self) -> float:
        """The timeout of the next blocking call: what the limit leaves, at most a few seconds, at least one."""
        left = self.limit_s if self._since is None else self.limit_s - (self._clock() - self._since)
        return min(_CALL_S, max(1.0, left))

    def noticed(self, what: str, error: object) -> None:
        """Start the clock, if it is not running, on a failure the client reports and retries by itself (never raises)."""
        if self._since is None:
            self._since = self._clock()
            log.warning("Kafka at %s: %s failed (%s); waiting for up to %g s (--outage-limit)",
                        self.where, what, error, self.limit_s)

    def failed(self, what: str, error: object) -> None:
        """Note that ``what`` failed with ``error`` (it will be retried); BackendError once the limit has passed."""
        now = self._clock()
        if self._since is None:
            self._since = now
            log.warning("Kafka at %s: %s failed (%s); retrying for up to %g s (--outage-limit)",
                        self.where, what, error, self.limit_s)
        elif now - self._since > self.limit_s:
            raise BackendError(
                f"Kafka at {self.where}: {what} failed for more than {self.limit_s:g} s (--outage-limit), last with "
                f"{error}; check that the broker runs and this host can reach it, then start the scorer again "
                "(it reads every event it did not commit again)")
        else:
            log.debug("Kafka at %s: %s failed again (%s)", self.where, what, error)

    def recovered(self) -> None:
        """Note a success: the outage, if any, is over."""
        if self._since is not None:
            log.info("Kafka at %s answers again after %.1f s; carrying on", self.where, self._clock() - self._since)
            self._since = None

    def should_probe(self) -> bool:
        """Whether an idle scorer should ask the broker if it is back (once a second while an outage lasts)."""
        now = self._clock()
        if self._since is None or now - self._probed_at < _PROBE_EVERY_S:
            return False
        self._probed_at = now
        return True

    def retried(self, what: str, call: Callable[[float], T], kafka_exception: type[Exception]) -> T:
        """Return ``call(timeout_s)``, calling it again while it fails with a retriable error within the limit.

        Fatal and abortable errors, and those that retrying cannot cure, are raised at once.
        """
        while True:
            try:
                result = call_within(call, self.call_s())
            except kafka_exception as exc:
                error = exc.args[0]
                if error.fatal() or error.txn_requires_abort() or not error.retriable():
                    raise
                self.failed(what, error)
                continue
            return result


class Wedged(Exception):
    """A Kafka call did not return within its timeout and a grace period: the client is stuck (see call_within)."""


def call_within(call: Callable[[float], T], timeout_s: float) -> T:
    """Return ``call(timeout_s)``, made on a thread of its own; Wedged if it has not returned ``_GRACE_S`` later.

    librdkafka's send_offsets_to_transaction can block for good, whatever its timeout, when the group
    coordinator went away during the call (confluentinc/librdkafka#5456, #5511); the caller then replaces
    the client. The abandoned call's thread is a daemon and ends when (if) the call does.
    """
    outcome: list = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call(timeout_s)))
        except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="mldeploy-kafka-call", daemon=True).start()
    if not done.wait(timeout_s + _GRACE_S):
        raise Wedged(f"no answer in {timeout_s + _GRACE_S:g} s")
    returned, value = outcome[0]
    if not returned:
        raise value
    return value
