"""TopicSource: the serving core's ModelSource over a model topic, for ``LiveModel``.

On its first call it reads the model topic from the start to its current end;
that is cheap whatever the age of the topic, because the topic is compacted to
one record per key and the bundle bytes sit on the chunk topic, which is read
only at the offsets of the one version offered. After that it follows new
records as they arrive. A broker that is down makes ``next_candidate`` return
None (the live model keeps serving, or serves its cache) until it is back.
"""

from __future__ import annotations

import logging
import time

from mldeploy.bundle import Bundle
from mldeploy.errors import BackendError, BundleError
from mldeploy.serving import Candidate
from mldeploy.stream import codec
from mldeploy.stream.codec import PublishedVersion
from mldeploy.stream.index import TopicIndex, read_index
from mldeploy.stream.transport import Location, Transport, parse_url
from mldeploy.stream.schemes import open_transport

__all__ = ["TopicSource", "open_topic_source"]

log = logging.getLogger(__name__)

_FIRST_CONTACT_S = 5.0
_REOPEN_AFTER_S = 15.0
"""A transport that has failed this long is closed and opened afresh: a Kafka client made while the broker
was down has been seen to keep timing out after the broker came back, while a new one connected at once."""
_READ_LIMIT = 1000
"""Chunk records asked of the transport at a time (a Kafka read allocates room for as many as asked)."""


class TopicSource:
    """Offer the latest version of ``name`` on a model topic (or version ``pin``)."""

    def __init__(self, url: str | Location, name: str, topic: str | None = None, pin: int | None = None,
                 transport: Transport | None = None, fetch_timeout_s: float = 60.0):
        self.location = url if isinstance(url, Location) else parse_url(url, topic)
        self.name = name
        self.pin = pin
        self.fetch_timeout_s = fetch_timeout_s
        self.chunks_read = 0
        """Chunk records read so far (the bytes of the versions offered, nothing older)."""
        self._owns_transport = transport is None
        self._transport = transport or open_transport(self.location)
        self._index: TopicIndex | None = None
        self._offered: tuple | None = None
        self._unreachable = False
        self._failing_since: float | None = None

    def describe(self) -> str:
        """Say which topic this follows."""
        return f"{self._transport.describe()}, topic {self.location.topic}"

    def next_candidate(self, timeout_s: float) -> Candidate | None:
        """Return the version the topic now names for this model if it changed; None otherwise."""
        try:
            self._catch_up(timeout_s)
        except BackendError as exc:
            (log.debug if self._unreachable else log.warning)("%s cannot be read now (%s); retrying", self.describe(), exc)
            self._unreachable = True
            self._reopen_if_failing_long()
            time.sleep(min(timeout_s, 0.2))  # the transport already waited; don't spin on a down broker
            return None
        if self._unreachable:
            log.info("%s can be read again", self.describe())
            self._unreachable = False
        self._failing_since = None
        wanted = self._wanted()
        if wanted is None:
            return None
        identity = (wanted.version, wanted.archive_sha256, wanted.chunk_topic, wanted.first_offset)
        if identity == self._offered:
            return None
        self._offered = identity
        return Candidate(ref=wanted.ref, digest=wanted.digest, fetch=lambda: self._fetch(wanted))

    def close(self) -> None:
        """Close the transport."""
        self._transport.close()

    def _reopen_if_failing_long(self) -> None:
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        if not self._owns_transport or now - self._failing_since < _REOPEN_AFTER_S:
            return
        log.info("%s: opening a new connection after %.0f s of failures", self.describe(), now - self._failing_since)
        self._transport.close()
        self._transport = open_transport(self.location)
        self._failing_since = now

    def _catch_up(self, timeout_s: float) -> None:
        if self._index is None:  # a first contact (connection, metadata) takes longer than a poll
            self._index = read_index(self._transport, self.location.topic, max(timeout_s, _FIRST_CONTACT_S))
            return
        records, self._index.cursor = self._transport.read(self.location.topic, self._index.cursor, timeout_s)
        for record in records:
            self._index.add(record)

    def _wanted(self) -> PublishedVersion | None:
        if self.pin is not None:
            return self._index.versions.get(self.name, {}).get(self.pin)
        return self._index.latest.get(self.name)

    def _fetch(self, published: PublishedVersion) -> Bundle:
        """Read the version's chunks, join and check them, and open the bundle (no unpickling)."""
        bundle = Bundle.from_archive(codec.archive_reader(published, self._read_chunks(published)))
        if bundle.digest != published.digest or bundle.ref != published.ref:  # a record copied from another model's
            raise BundleError(f"{published.ref} on {self.describe()} holds {bundle.ref} with another manifest digest; "
                              "the topic was written by something other than `mldeploy publish`, publish it again")
        return bundle

    def _read_chunks(self, published: PublishedVersion) -> list:
        chunks, cursor = [], published.first_offset
        deadline = time.monotonic() + self.fetch_timeout_s
        while cursor <= published.last_offset and time.monotonic() < deadline:
            wait_s = max(0.0, deadline - time.monotonic())
            needed = min(_READ_LIMIT, max(1, published.chunk_count - len(chunks)))  # the record's count is a claim
            records, after = self._transport.read(published.chunk_topic, cursor, wait_s, limit=needed)
            chunks += [r for r in records if r.offset <= published.last_offset]
            if after == cursor:
                break  # nothing more: the chunks that are missing are reported by join_chunks
            cursor = after
        self.chunks_read += len(chunks)
        return chunks


def open_topic_source(url: str, name: str, *, pin: int | None = None) -> TopicSource:
    """The ``kafka://`` and ``local://`` entries of the core's source table (``mldeploy.serving.model_source``)."""
    return TopicSource(url, name, pin=pin)
