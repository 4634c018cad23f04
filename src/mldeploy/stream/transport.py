"""The Transport protocol the publisher and topic source use, and URL parsing.

A transport stores topics of :class:`~mldeploy.stream.codec.Record` in order.
Offsets are opaque increasing integers per topic (Kafka offsets, or byte
positions in a local log); a reader continues from the cursor it was handed.

URLs name a place and a topic: ``kafka://HOST:PORT/TOPIC`` or
``local:///FOLDER/TOPIC`` (the log of TOPIC lives in FOLDER).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, Sequence
from urllib.parse import urlsplit

from mldeploy._urls import masked_url
from mldeploy.errors import BackendError, ConfigError
from mldeploy.stream.codec import Record

__all__ = ["DEFAULT_TOPIC", "Location", "TopicKind", "Transport", "chunk_topic", "parse_url"]

DEFAULT_TOPIC = "models"
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class RecordTooLarge(BackendError):
    """A record larger than the topic takes: writing it again cannot succeed."""


class TopicKind(str, Enum):
    """How a topic keeps its records."""

    MODELS = "models"
    """Compacted by key: the newest record per key survives, forever."""
    CHUNKS = "chunks"
    """Every record kept forever (unique keys, so compaction never drops one)."""
    EVENTS = "events"
    """The broker's default retention: input events, predictions, dead letters."""


class Transport(Protocol):
    """Where topics live: a Kafka cluster or a folder of local logs."""

    compresses: bool
    """Whether the transport compresses what it stores (so archives are sent as plain tars)."""

    def describe(self) -> str:
        """Say where the topics are, for messages and logs."""

    def ensure_topic(self, topic: str, kind: TopicKind) -> None:
        """Create ``topic`` with the retention ``kind`` needs, unless it exists."""

    def append(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Write records in order; return their offsets once they are durable; BackendError if not."""

    def read(self, topic: str, start: int, timeout_s: float, limit: int = 1000) -> tuple[list[Record], int]:
        """Return up to ``limit`` records from cursor ``start`` (waiting up to ``timeout_s`` for one) and the next cursor."""

    def end(self, topic: str, timeout_s: float) -> int:
        """Return the cursor after the last record now in ``topic``; BackendError if it cannot be reached."""

    def close(self) -> None:
        """Release connections and files."""


@dataclass(frozen=True)
class Location:
    """A parsed transport URL."""

    scheme: str
    """``kafka`` or ``local``."""
    where: str
    """``host:port`` for Kafka, a folder for the local log."""
    topic: str

    def url(self) -> str:
        """Return the URL this location was parsed from (normalised)."""
        return f"kafka://{self.where}/{self.topic}" if self.scheme == "kafka" else f"local://{self.where}/{self.topic}"


def parse_url(url: str, topic: str | None = None) -> Location:
    """Parse ``kafka://HOST:PORT[/TOPIC]`` or ``local:///FOLDER/TOPIC``; ``topic`` overrides the URL's."""
    parts = urlsplit(url if isinstance(url, str) else "")
    if parts.scheme == "kafka":
        if not parts.netloc or parts.port is None:
            raise ConfigError(f'"{masked_url(url)}" names no broker: expected kafka://HOST:PORT/TOPIC, e.g. kafka://127.0.0.1:9092/models')
        where, path_topic = parts.netloc, parts.path.strip("/") or DEFAULT_TOPIC
    elif parts.scheme == "local":
        path = Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path)
        if not path.is_absolute() or path.name == "":
            raise ConfigError(f'"{masked_url(url)}" is not a local log: expected local:///FOLDER/TOPIC, e.g. local:///tmp/mldeploy/models')
        where, path_topic = str(path.parent), path.name
    else:
        raise ConfigError(f'"{masked_url(url)}" is not a stream URL: expected kafka://HOST:PORT/TOPIC or local:///FOLDER/TOPIC')
    chosen = topic or path_topic
    if not _TOPIC.match(chosen):
        raise ConfigError(f'topic "{chosen}" is not valid: use letters, digits, ".", "_" and "-" (at most 200)')
    return Location(parts.scheme, where, chosen)


def chunk_topic(topic: str) -> str:
    """Return the topic that holds the bundle chunks of model topic ``topic``."""
    return f"{topic}.chunks"
