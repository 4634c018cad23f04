"""Fold a model topic's records into what it says now: the latest version per name and all versions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import BundleError, ConfigError
from mldeploy.stream import codec
from mldeploy.stream.codec import PublishedVersion, Record
from mldeploy.stream.transport import Transport

__all__ = ["TopicIndex", "read_index"]

log = logging.getLogger(__name__)


@dataclass
class TopicIndex:
    """The latest publication per model name and every version listed, as of ``cursor``."""

    latest: dict[str, PublishedVersion] = field(default_factory=dict)
    versions: dict[str, dict[int, PublishedVersion]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Records that are not version records, described (they are skipped, never fatal)."""
    cursor: int = 0

    def add(self, record: Record) -> PublishedVersion | None:
        """Take one record in; return the version when it moves a latest pointer."""
        try:
            published = codec.decode_version(record.value)
            key = record.key.decode()
            ref = BundleRef.parse(key)
        except (BundleError, ConfigError, UnicodeDecodeError) as exc:
            self.problems.append(f"offset {record.offset}: {exc}")
            log.warning("skipping record at offset %s of the model topic: %s", record.offset, exc)
            return None
        if ref.name != published.name or ref.version not in (None, published.version):
            self.problems.append(f"offset {record.offset}: key {key!r} does not match {published.ref}")
            return None
        self.versions.setdefault(published.name, {})[published.version] = published
        if ref.version is None:
            self.latest[published.name] = published
            return published
        return None


def read_index(transport: Transport, topic: str, timeout_s: float) -> TopicIndex:
    """Read a model topic from its start to its current end (small: compacted, one record per key)."""
    index = TopicIndex()
    end = transport.end(topic, timeout_s)
    while index.cursor < end:
        records, cursor = transport.read(topic, index.cursor, timeout_s)
        if cursor == index.cursor:
            break  # nothing more arrived in time
        for record in records:
            index.add(record)
        index.cursor = cursor
    return index
