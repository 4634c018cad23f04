"""Translate bundles and events to transport records and back; pure, no I/O.

A published version is two kinds of record:

- **chunks** of the bundle archive on the chunk topic, keyed ``<sha256>/<index>``
  so compaction can never merge two of them, and
- one small **version record** (JSON) on the compacted model topic, written twice:
  keyed ``name@version`` (every version stays listed) and keyed ``name``
  (the latest pointer; compaction keeps only its newest value).

Nothing decoded here is ever unpickled: version records and events are JSON,
chunks are raw archive bytes that :func:`mldeploy.bundle.archive.unpack` checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import BinaryIO

from mldeploy._extras import optional
from mldeploy._json_depth import nests_deeper_than
from mldeploy.bundle.digest import bytes_digest
from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import BundleError, ConfigError, Issue, SchemaError

__all__ = [
    "CHUNK_BYTES", "DEAD_LETTER_EXCERPT_BYTES", "FORMAT", "MAX_EVENT_DEPTH", "MODEL_HEADER", "Record", "PublishedVersion",
    "archive_reader", "chunk_records", "dead_letter_value", "decode_events", "decode_version", "encode_version",
    "issues_by_row", "join_chunks", "version_keys",
]

FORMAT = 2
"""Version-record format: 2's archive is a plain tar (where the transport compresses) or a gzip tar; 1's, still read, gzip only.

Subscribers read older formats; upgrade subscribers before publishers (an older subscriber refuses a
newer format, says so, and keeps serving what it serves)."""
CHUNK_BYTES = 512 * 1024
"""Chunk size: well under Kafka's default 1 MB message limit, with room for key and headers."""
MODEL_HEADER = "mldeploy-model"
"""Header naming the ``name@version`` that produced a prediction."""


@dataclass(frozen=True)
class Record:
    """One message of a topic, as every transport reads and writes it."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    offset: int | None = None
    """Position in its topic (partition 0); set by the transport on append and read."""
    partition: int = 0


@dataclass(frozen=True)
class PublishedVersion:
    """What a subscriber needs to find, fetch and check one published version."""

    name: str
    version: int
    digest: str
    """SHA-256 of the bundle's manifest (pins every file)."""
    archive_sha256: str
    archive_bytes: int
    chunk_count: int
    chunk_topic: str
    first_offset: int
    last_offset: int
    """Chunks lie between these offsets of ``chunk_topic``, possibly interleaved with others."""
    signed: bool
    task: str
    published_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
    format: int = FORMAT

    @property
    def ref(self) -> BundleRef:
        """``name@version`` of the published bundle."""
        return BundleRef(self.name, self.version)

    def chunk_key(self, index: int) -> bytes:
        """Key of chunk ``index`` of this archive."""
        return f"{self.archive_sha256}/{index}".encode()


_CHUNK_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
"""A Kafka topic name: no path separator, so a local log's chunk topic stays inside its folder."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELD_TYPES = {f.name: {"str": str, "int": int, "bool": bool}[f.type] for f in fields(PublishedVersion)}


def version_keys(ref: BundleRef) -> tuple[bytes, bytes]:
    """Return the (per-version, latest-pointer) keys of a version record."""
    return str(ref).encode(), ref.name.encode()


def chunk_records(archive: bytes, chunk_bytes: int = CHUNK_BYTES) -> list[Record]:
    """Split an archive into chunk records keyed ``<sha256>/<index>``."""
    if chunk_bytes < 1:
        raise ConfigError(f"chunk size must be at least 1 byte, got {chunk_bytes}")
    sha = bytes_digest(archive)
    starts = range(0, max(len(archive), 1), chunk_bytes)
    return [Record(f"{sha}/{i}".encode(), archive[start:start + chunk_bytes]) for i, start in enumerate(starts)]


def encode_version(record: PublishedVersion) -> bytes:
    """Return the JSON value of a version record."""
    return json.dumps(asdict(record), sort_keys=True).encode()


def decode_version(value: bytes) -> PublishedVersion:
    """Parse a version record; BundleError if it is not one this mldeploy can read."""
    try:
        record = PublishedVersion(**json.loads(value))
        _check_types(record)
    except (ValueError, TypeError, ConfigError) as exc:
        raise BundleError(f"a record on the model topic is not a version record ({exc}); "
                          "only `mldeploy publish` should write to it") from exc
    if record.format > FORMAT:
        raise BundleError(f"{record.ref} was published in format {record.format}, newer than this mldeploy "
                          f"reads ({FORMAT}); upgrade mldeploy")
    return record


_orjson = optional("orjson")  # several times faster than json when installed
_loads = _orjson.loads if _orjson is not None else json.loads


def _check_types(record: PublishedVersion) -> None:
    for name, kind in _FIELD_TYPES.items():
        value = getattr(record, name)
        if type(value) is not kind:
            raise TypeError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    BundleRef.parse(str(record.ref))  # a name or version that could not be a model's
    if not _CHUNK_TOPIC.fullmatch(record.chunk_topic) or record.chunk_topic in (".", ".."):
        raise ValueError(f"chunk_topic {record.chunk_topic[:80]!r} is not a topic name")
    if not _SHA256.fullmatch(record.archive_sha256) or not _SHA256.fullmatch(record.digest):
        raise ValueError("archive_sha256 and digest must be SHA-256 hex digests")
    if not 0 <= record.first_offset <= record.last_offset or record.archive_bytes < 0:
        raise ValueError(f"offsets {record.first_offset}..{record.last_offset} and archive_bytes {record.archive_bytes} "
                         "cannot hold an archive")
    if not 1 <= record.chunk_count <= max(1, record.archive_bytes):  # fewer chunks between the offsets: "truncated" on fetch
        raise ValueError(f"chunk_count {record.chunk_count} cannot split {record.archive_bytes} archive bytes")


def join_chunks(record: PublishedVersion, chunks: list[Record]) -> bytes:
    """Reassemble the archive from chunk records read between its offsets, checking count and SHA-256."""
    return b"".join(_checked_parts(record, chunks))


def archive_reader(record: PublishedVersion, chunks: list[Record]) -> BinaryIO:
    """Like :func:`join_chunks`, as a stream over the chunks: a 50 MB archive is not copied once more to be read."""
    return io.BufferedReader(_PartsReader(_checked_parts(record, chunks)), buffer_size=1 << 20)


def _checked_parts(record: PublishedVersion, chunks: list[Record]) -> list[bytes]:
    prefix = f"{record.archive_sha256}/".encode()
    parts: dict[int, bytes] = {}
    for chunk in chunks:
        index = chunk.key[len(prefix):]
        if chunk.key.startswith(prefix) and index.isdigit() and int(index) < record.chunk_count:
            parts[int(index)] = chunk.value
    if len(parts) < record.chunk_count:  # counted, not listed: a record may claim millions of chunks
        first_missing = next(i for i in range(record.chunk_count) if i not in parts)
        raise BundleError(f"{record.ref} is truncated: {record.chunk_count - len(parts)} of {record.chunk_count} chunks "
                          f"are missing from {record.chunk_topic} (first missing: {first_missing}); publish it again")
    ordered = [parts[i] for i in range(record.chunk_count)]
    hasher = hashlib.sha256()
    for part in ordered:
        hasher.update(part)
    size = sum(len(part) for part in ordered)
    if size != record.archive_bytes or hasher.hexdigest() != record.archive_sha256:
        raise BundleError(f"{record.ref} is corrupt: its chunks join to {size} bytes that do not match "
                          f"the published {record.archive_bytes} bytes and SHA-256; publish it again")
    return ordered


class _PartsReader(io.RawIOBase):
    """Read a list of byte strings as one stream."""

    def __init__(self, parts: list[bytes]):
        self._parts = [memoryview(part) for part in parts]
        self._index = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if self._offset < len(part):
                size = min(len(buffer), len(part) - self._offset)
                buffer[:size] = part[self._offset:self._offset + size]
                self._offset += size
                return size
            self._index, self._offset = self._index + 1, 0
        return 0


MAX_EVENT_DEPTH = 64
"""How deeply an event's JSON may nest: events are flat objects of fields, and a parser that recursed
as deep as a hostile message nests (100 KB of ``[``) would exhaust the stack."""
DEAD_LETTER_EXCERPT_BYTES = 16 * 1024
"""A dead letter carries at most this much of its event (with the event's size and SHA-256), so that it
always fits the broker's message limit whatever the event: a 700 KB event of ``0xff`` bytes, as hex, would not."""
DEAD_LETTER_REASONS = 20
"""A dead letter lists at most this many reasons (each at most ``DEAD_LETTER_REASON_CHARS``) and says how many there were."""
DEAD_LETTER_REASON_CHARS = 1000


def decode_events(values: list[bytes]) -> tuple[list[dict | None], dict[int, str]]:
    """Parse event messages (JSON objects): rows by position (None where invalid) and why each invalid one is."""
    try:  # each message parsed on its own (joined into one array, a broken message could merge with its neighbour)
        if _orjson is not None or not any(map(_event_problem, values)):  # orjson stops at 1,024 levels without recursing
            rows = [_loads(value) for value in values]
            if all(type(row) is dict for row in rows):
                return rows, {}
    except ValueError:  # only a batch with a bad message pays for finding it
        pass
    rows, bad = [], {}
    for position, value in enumerate(values):
        rows.append(None)
        reason = _event_problem(value)
        if reason is None:
            try:
                row = json.loads(value)
            except ValueError as exc:
                reason = f"the message is not JSON ({exc}); send one JSON object per event"
            else:
                if type(row) is not dict:
                    reason = f"expected one JSON object of fields, got {type(row).__name__}"
                else:
                    rows[position] = row
        if reason is not None:
            bad[position] = reason
    return rows, bad


def _event_problem(value: bytes) -> str | None:
    """Why ``value`` cannot be parsed safely (nested deeper than MAX_EVENT_DEPTH), or None."""
    if nests_deeper_than(value, MAX_EVENT_DEPTH):
        return f"the message nests deeper than {MAX_EVENT_DEPTH} levels; send one flat JSON object of fields per event"
    return None


def dead_letter_value(event: bytes, error: str, reasons: list[str], source: dict) -> bytes:
    """Encode a dead letter (JSON): the error code, its reasons, the event and where it was read.

    The event is given as text (or hex if not UTF-8), cut to its first DEAD_LETTER_EXCERPT_BYTES
    bytes, with its size and SHA-256 so it can be found and matched; reasons are bounded alike.
    So a dead letter always fits the broker, whatever the event was.
    """
    excerpt = event[:DEAD_LETTER_EXCERPT_BYTES]
    try:
        text = excerpt.decode()
    except UnicodeDecodeError as exc:
        if len(excerpt) < len(event) and exc.start >= len(excerpt) - 3:  # the cut split a character
            text = excerpt[:exc.start].decode(errors="replace")
        else:
            text = excerpt.hex()
    shown = [reason[:DEAD_LETTER_REASON_CHARS] for reason in reasons[:DEAD_LETTER_REASONS]]
    letter = {"error": error, "reasons": shown, "event": text, "source": source,
              "event_bytes": len(event), "event_sha256": hashlib.sha256(event).hexdigest()}
    if len(excerpt) < len(event):
        letter["event_truncated"] = True
    if len(shown) < len(reasons):
        letter["reasons_total"] = len(reasons)
    return json.dumps(letter).encode()


def issues_by_row(error: SchemaError, rows: int) -> dict[int, list[Issue]]:
    """Group a SchemaError's issues by row; an issue about the whole input applies to every row."""
    grouped: dict[int, list[Issue]] = {}
    for issue in error.issues:
        for row in range(rows) if issue.row is None else (issue.row,):
            grouped.setdefault(row, []).append(issue)
    return grouped
