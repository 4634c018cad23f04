"""Follow an alias through the registry's change feed and publish each version it moves to, to a model topic.

``mldeploy publish NAME:ALIAS --to URL --follow`` runs one. Its position in
the feed is kept in the registry (a delivery row per alias and topic), so a
restarted relay continues where it stopped: it misses no move. A relay killed
between publishing and recording its position finds, on restart, that the
topic's latest record for the model already is that version, and does not
publish it again. Rollbacks are moves like any other, published in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from mldeploy.errors import MldeployError, shorten

__all__ = ["Relay", "Relayed"]

_INDEX_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Relayed:
    """One version the relay handled: published, or found on the topic already."""

    version: int
    cursor: int
    published: bool


class Relay:
    """Publish every version ``name:alias`` moves to onto the topic at ``url``, exactly once each.

    Example::

        relay = Relay(registry, "salary", "production", "kafka://127.0.0.1:9092/models")
        relay.run(stop_event)        # or relay.catch_up() from a scheduler
    """

    def __init__(self, registry, name: str, alias: str, url: str, topic: str | None = None,
                 on_relayed: Callable[[Relayed], None] | None = None):
        from mldeploy.stream.transport import parse_url

        self.registry, self.name, self.alias = registry, name, alias
        self.location = parse_url(url, topic)
        self.label = f"relay:{self.location.url()}"
        self._on_relayed = on_relayed or (lambda _relayed: None)
        self._checked_topic = False  # the topic is read once per start, to close the crash window

    def catch_up(self) -> list[Relayed]:
        """Publish every move made since the last recorded position (the alias's version, on a first start)."""
        journal = self.registry.journal
        held = journal.delivery(self.name, self.alias, self.label)
        if held is None or held.cursor is None:  # a first start (or one whose first publication failed)
            feed = self.registry.changes()
            version = self.registry.aliases(self.name).get(self.alias)
            return [self._relay(version, feed.cursor)] if version is not None else self._advance(feed.cursor)
        # A failed publication left the cursor before its move, so the move is read again here.
        feed = self.registry.changes(since=held.cursor, name=self.name)
        done = []
        for change in feed.changes:
            if change.kind == "alias" and change.alias == self.alias:
                done.append(self._relay(change.version, change.cursor))
        return done + self._advance(feed.cursor)

    def run(self, stop: threading.Event, wait_s: float = 5.0, on_error: Callable[[Exception], None] | None = None) -> None:
        """Catch up, then wait for changes and catch up again, until ``stop`` is set.

        A failed publication (broker down) is recorded with its reason and retried
        at the next wake-up; the relay itself keeps running.
        """
        while not stop.is_set():
            try:
                self.catch_up()
            except MldeployError as exc:
                (on_error or (lambda _exc: None))(exc)
            held = self.registry.journal.delivery(self.name, self.alias, self.label)
            since = held.cursor if held is not None and held.ok else None
            if since is None:
                stop.wait(wait_s)
            else:
                self.registry.wait_for_change(wait_s, since=since)

    def _relay(self, version: int, cursor: int) -> Relayed:
        from mldeploy.stream import publish

        journal = self.registry.journal
        try:
            already = self._topic_has(version)
            if not already:
                publish(self.registry.get(f"{self.name}@{version}"), self.location.url())
        except MldeployError as exc:
            journal.record_delivery(self.name, self.alias, self.label, version, ok=False,
                                    reason=f"{type(exc).__name__}: {shorten(exc, 300)}")
            raise
        journal.record_delivery(self.name, self.alias, self.label, version, ok=True, cursor=cursor,
                                reason="already the topic's latest" if already else "")
        relayed = Relayed(version, cursor, published=not already)
        self._on_relayed(relayed)
        return relayed

    def _advance(self, cursor: int) -> list[Relayed]:
        held = self.registry.journal.delivery(self.name, self.alias, self.label)
        wanted = held.wanted_version if held is not None else 0
        if held is None or held.cursor is None or (held.ok and held.cursor < cursor):
            self.registry.journal.record_delivery(self.name, self.alias, self.label, wanted, ok=held is None or held.ok,
                                                  reason=held.reason if held else "", cursor=cursor)
        return []

    def _topic_has(self, version: int) -> bool:
        """On the first publication after a start, tell whether the topic's latest record already is ``version``."""
        if self._checked_topic:
            return False
        self._checked_topic = True
        from mldeploy.stream.index import read_index
        from mldeploy.stream.schemes import open_transport

        transport = open_transport(self.location)
        try:
            index = read_index(transport, self.location.topic, _INDEX_TIMEOUT_S)
        finally:
            transport.close()
        latest = index.latest.get(self.name)
        return latest is not None and latest.version == version
