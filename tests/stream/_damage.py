"""Publish versions that fail on purpose: real records on a real topic, damaged in a known way."""

from __future__ import annotations

from collections.abc import Callable

from mldeploy.bundle import Bundle
from mldeploy.bundle.digest import bytes_digest
from mldeploy.stream import codec
from mldeploy.stream.codec import PublishedVersion, Record
from mldeploy.stream.transport import TopicKind, chunk_topic, parse_url
from mldeploy.stream.schemes import open_transport


def publish_damaged(url: str, bundle: Bundle, damage: Callable[[list[Record]], list[Record]]) -> PublishedVersion:
    """Publish ``bundle`` like mldeploy does, but write ``damage(chunks)`` instead of its chunks."""
    location = parse_url(url)
    transport = open_transport(location)
    try:
        archive = bundle.to_archive()
        chunks = codec.chunk_records(archive, chunk_bytes=16_384)
        chunks_at = chunk_topic(location.topic)
        transport.ensure_topic(chunks_at, TopicKind.CHUNKS)
        transport.ensure_topic(location.topic, TopicKind.MODELS)
        offsets = transport.append(chunks_at, damage(chunks))
        record = PublishedVersion(
            name=bundle.name, version=bundle.version, digest=bundle.digest, archive_sha256=bytes_digest(archive),
            archive_bytes=len(archive), chunk_count=len(chunks), chunk_topic=chunks_at, first_offset=offsets[0],
            last_offset=offsets[-1], signed=bundle.signature is not None, task=bundle.manifest.task,
        )
        transport.append(location.topic, [Record(k, codec.encode_version(record)) for k in codec.version_keys(record.ref)])
        return record
    finally:
        transport.close()


def flip_a_byte(chunks: list[Record]) -> list[Record]:
    """Corrupt: one byte of the second chunk changed."""
    changed = bytearray(chunks[1].value)
    changed[100] ^= 0xFF
    return [chunks[0], Record(chunks[1].key, bytes(changed)), *chunks[2:]]


def drop_the_last(chunks: list[Record]) -> list[Record]:
    """Truncated: the last chunk never written."""
    return chunks[:-1]
