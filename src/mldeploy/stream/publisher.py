"""Publish a bundle version to a model topic: chunks first, then its version record."""

from __future__ import annotations

from dataclasses import dataclass

from mldeploy.bundle import Bundle
from mldeploy.bundle.digest import bytes_digest
from mldeploy.errors import ConfigError
from mldeploy.stream import codec
from mldeploy.stream.codec import PublishedVersion, Record
from mldeploy.stream.transport import Location, TopicKind, Transport, chunk_topic, parse_url
from mldeploy.stream.schemes import open_transport

__all__ = ["Published", "publish", "publish_to"]


@dataclass(frozen=True)
class Published:
    """What a publication wrote, for the caller to report."""

    version: PublishedVersion
    location: Location


def publish(bundle: Bundle, url: str, topic: str | None = None, chunk_bytes: int = codec.CHUNK_BYTES) -> Published:
    """Publish a registered bundle to ``url`` (``kafka://HOST:PORT/TOPIC`` or ``local:///FOLDER/TOPIC``).

    Example::

        publish(registry.get("salary@3"), "kafka://127.0.0.1:9092/models")
    """
    location = parse_url(url, topic)
    transport = open_transport(location)
    try:
        return Published(publish_to(transport, location.topic, bundle, chunk_bytes), location)
    finally:
        transport.close()


def publish_to(transport: Transport, topic: str, bundle: Bundle, chunk_bytes: int = codec.CHUNK_BYTES) -> PublishedVersion:
    """Write ``bundle``'s chunks, then its version record keyed by version and by name; return the record.

    The version record goes last: a subscriber that sees it can always find every chunk.
    """
    if bundle.version is None:
        raise ConfigError(f"{bundle.name} has no version: register it first (`mldeploy train`, Registry.register)")
    # A plain tar where the transport compresses (Kafka: lz4, in librdkafka's threads), so no subscriber
    # spends half a second of Python time in gunzip for every 50 MB version; gzip on a local log.
    archive = bundle.to_archive(compress=not transport.compresses)
    chunks = codec.chunk_records(archive, chunk_bytes)
    chunks_at = chunk_topic(topic)
    transport.ensure_topic(chunks_at, TopicKind.CHUNKS)
    transport.ensure_topic(topic, TopicKind.MODELS)
    offsets = transport.append(chunks_at, chunks)
    record = PublishedVersion(
        name=bundle.name, version=bundle.version, digest=bundle.digest, archive_sha256=bytes_digest(archive),
        archive_bytes=len(archive), chunk_count=len(chunks), chunk_topic=chunks_at,
        first_offset=offsets[0], last_offset=offsets[-1], signed=bundle.signature is not None,
        task=bundle.manifest.task,
    )
    value = codec.encode_version(record)
    transport.append(topic, [Record(key, value) for key in codec.version_keys(record.ref)])
    return record
