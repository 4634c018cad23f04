"""The canary: a share of a model's requests answered by a challenger, sticky per key, changeable at run time.

``--canary salary:staging=10%`` routes a request to the challenger when a
stable hash of its log key (the first row's ``--log-key`` value) falls in the
share, so one person always meets the same version; a request without a key
is routed at random. Every answer names the version that made it, as always.
Until a version of the challenger has passed its checks, the champion answers
its share too: an experiment that is loading, or cannot load, costs no client a 503.

The share lives in the registry beside the aliases (:mod:`mldeploy.registry.traffic`):
the server writes the share it starts with, then follows the record (one
primary-key read per poll, on a thread of its own), so ``Registry.set_traffic``
changes the split on every server without a restart. A guard watches the
challenger's last answers: when its error rate (server errors, not the
client's bad rows) or p99 latency passes the limits, it sets the share to 0 and
records why in the registry, where every server reads it.
"""

from __future__ import annotations

import logging
import random
import threading
import zlib
from collections import deque
from datetime import datetime, timezone

import numpy as np

from mldeploy.api.challenger import Challenger
from mldeploy.bundle import BundleRef
from mldeploy.registry.traffic import check_share

__all__ = ["Canary", "CanaryGuard"]

log = logging.getLogger("mldeploy.api")
_BUCKETS = 10_000  # the share's resolution: 0.01 %


class CanaryGuard:
    """The limits a canary's last answers must keep: the share of server errors and the p99 latency.

    Not thread-safe: the canary calls it under its lock.
    """

    def __init__(self, max_error_rate: float | None, max_p99_ms: float | None, min_requests: int):
        self.max_error_rate = max_error_rate
        self.max_p99_s = max_p99_ms / 1000 if max_p99_ms is not None else None
        self.min_requests = min_requests
        self._recent: deque[tuple[bool, float]] = deque(maxlen=max(min_requests, 100))

    def forget(self) -> None:
        """Start counting afresh (the share changed: the answers before belong to another experiment)."""
        self._recent.clear()

    def observe(self, failed: bool, seconds: float) -> str | None:
        """Count one answer; return why the canary must stop, or None while the last answers keep the limits."""
        self._recent.append((failed, seconds))
        if len(self._recent) < self.min_requests:
            return None
        failures = sum(1 for was_failed, _ in self._recent if was_failed)
        error_rate = failures / len(self._recent)
        if self.max_error_rate is not None and error_rate > self.max_error_rate:
            return f"error rate {error_rate:.1%} over {self.max_error_rate:.1%} in the last {len(self._recent)} answers"
        if self.max_p99_s is None:
            return None
        p99 = float(np.quantile([s for _, s in self._recent], 0.99))
        if p99 > self.max_p99_s:
            return f"p99 {p99 * 1000:.1f} ms over {self.max_p99_s * 1000:g} ms in the last {len(self._recent)} answers"
        return None


class Canary:
    """The challenger answering a share of one served model's requests, its registry record, and its guard."""

    def __init__(self, ref: BundleRef, share: float, catalog):
        config = catalog.config
        self.ref = ref
        self.name = ref.name
        self.challenger = Challenger(ref, catalog, "canary")
        self.live, self.batcher = self.challenger.live, self.challenger.batcher
        self.share = check_share(share)
        self.stopped_because: str | None = None
        self._stopped_at: datetime | None = None
        self._registry = catalog.registry
        self._guard = CanaryGuard(config.canary_max_error_rate, config.canary_max_p99_ms, config.canary_min_requests)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poll_interval_s = config.poll_interval_s
        self._registry.set_traffic(self.name, str(ref), self.share, reason="mldeploy serve --canary")
        self._follower = threading.Thread(target=self._follow, name=f"mldeploy-canary-{self.name}", daemon=True)
        self._follower.start()

    def chooses(self, key: str | None) -> bool:
        """Tell whether the challenger answers a request keyed ``key`` (None: at random)."""
        share = self.share
        if share <= 0:
            return False
        if share >= 100:
            return True
        if key is None:
            return random.random() * 100 < share
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % _BUCKETS < share * (_BUCKETS / 100)

    def observe(self, failed: bool, seconds: float) -> None:
        """Count one challenger answer; stop the canary when the last ones pass a guard's limit."""
        with self._lock:
            if self.share <= 0:
                return
            reason = self._guard.observe(failed, seconds)
            if reason is None:
                return
            self.share, self.stopped_because, self._stopped_at = 0.0, reason, datetime.now(timezone.utc)
        log.warning("canary %s stopped by its guard: %s", self.ref, reason)
        threading.Thread(target=self._record_stop, args=(reason,), daemon=True).start()  # off the event loop

    def close(self) -> None:
        """Stop following the share and the challenger's alias."""
        self._stop.set()
        self._follower.join(5)
        self.challenger.close()

    def _record_stop(self, reason: str) -> None:
        try:
            self._registry.set_traffic(self.name, str(self.ref), 0, reason=f"guard: {reason}")
            # The model's history (the journal the freshness loop writes too) says why the canary ended.
            self._registry.journal.record(self.name, "canary-stopped", reason=reason, actor="mldeploy serve --canary",
                                          version=self.live.version, details={"challenger": str(self.ref)})
        except Exception as exc:  # the share is 0 here already; the registry is told when it can be
            log.warning("canary %s: cannot record the guard's stop in the registry: %s", self.ref, exc)

    def _follow(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                record = self._registry.traffic(self.name)
            except Exception as exc:  # keep the share we have while the registry is away
                log.warning("canary %s: cannot read its share from the registry: %s", self.ref, exc)
                continue
            if record is None or record.challenger != str(self.ref):
                continue
            if self._stopped_at is not None and record.updated_at <= self._stopped_at:
                continue  # the guard's stop is not in the registry yet: the older share must not undo it
            if record.share != self.share:
                with self._lock:
                    if self.share != record.share:
                        log.info("canary %s: share %g%% -> %g%% (%s)", self.ref, self.share, record.share,
                                 record.reason or "set in the registry")
                        self.share = record.share
                        self._guard.forget()
