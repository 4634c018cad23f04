"""librdkafka's log lines through Python logging, rate-limited per kind of line.

While a broker is down librdkafka reports every failed connection attempt
(about 20 ``FAIL`` lines a second) and every failed idempotence handshake.
The client retries by itself, and mldeploy's own calls raise a BackendError
when it gives up, so these lines are warnings, not errors, and one line per
kind every ``interval_s`` says enough; the next line tells how many were left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimitedKafkaLog"]


class RateLimitedKafkaLog:
    """A ``logger`` for confluent-kafka: each facility (FAIL, IDEMPPID, ...) logs at most once per ``interval_s``."""

    def __init__(self, logger: logging.Logger, interval_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}

    def log(self, level: int, message: str, *args) -> None:
        """Log one librdkafka line (``"%s [%s] %s", facility, client, text``) unless its facility logged lately."""
        facility = str(args[0]) if args else message
        now = self._clock()
        with self._lock:
            last, left_out = self._seen.get(facility, (None, 0))
            if last is not None and now - last < self._interval_s:
                self._seen[facility] = (last, left_out + 1)
                return
            self._seen[facility] = (now, 0)
        if left_out:
            message += f" ({left_out} more like it in the last {self._interval_s:g} s left out)"
        # librdkafka recovers from what it reports (reconnects, retries): a warning at most.
        self._logger.log(min(level, logging.WARNING), message, *args)
