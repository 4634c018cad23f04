"""A local transport: append-only logs in one folder that processes on one machine share.

Each topic is one file ``FOLDER/TOPIC.log`` of frames::

    b"MLDL" | body length (u32) | CRC-32 of body (u32) | body
    body = key length (u32) | key | headers length (u32) | headers (JSON) | value

A record's offset is its byte position. Writers append whole frames in one
``write`` under an exclusive ``flock``, so concurrent publishers never
interleave; readers need no lock and stop at a frame still being written.

A writer killed mid-append leaves a torn tail: a last frame that never
completes. The next writer cuts it off under the lock before it appends, so
its frames start where the torn one did: a reader waiting at that byte reads
them next, and nothing is ever appended behind a frame no reader can pass.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import struct
import time
import zlib
from pathlib import Path
from typing import Sequence

from mldeploy.errors import BackendError, ConfigError
from mldeploy.stream.codec import Record
from mldeploy.stream.transport import TopicKind

__all__ = ["LocalLog"]

log = logging.getLogger(__name__)

_MAGIC = b"MLDL"
_FRAME = struct.Struct(">4sII")
_LENGTH = struct.Struct(">I")
_READ_BYTES = 16 * 1024 * 1024
"""Bytes one read takes at most (more when a single frame is larger)."""
_POLL_S = 0.02
"""How often a waiting reader looks at the file again (no portable file-change notification)."""


class LocalLog:
    """Topics as append-only files in ``folder`` (the embedded default transport)."""

    compresses = False

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"local log folder {self.folder} is a file; choose a folder")
        self._whole: dict[str, tuple[int, int]] = {}
        """Per topic: (the file's inode, a byte where whole frames end), so a walk over frames starts there."""

    def describe(self) -> str:
        """Say where the logs are."""
        return f"local log in {self.folder}"

    def ensure_topic(self, topic: str, kind: TopicKind) -> None:
        """Create the topic's file; every local topic keeps every record (no compaction needed)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path(topic).touch(exist_ok=True)
        except OSError as exc:
            raise BackendError(f"cannot create {self._path(topic)}: {exc.strerror or exc}") from exc

    def append(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Append frames in one locked write and fsync; return their byte offsets."""
        frames = [_encode(record) for record in records]
        try:
            with open(self._path(topic), "a+b") as handle:  # read too: the torn-tail check reads headers
                fcntl.flock(handle, fcntl.LOCK_EX)
                start = self._cut_torn_tail(topic, handle)
                handle.write(b"".join(frames))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise BackendError(f"cannot append to {self._path(topic)}: {exc.strerror or exc}") from exc
        offsets, position = [], start
        for frame in frames:
            offsets.append(position)
            position += len(frame)
        return offsets

    def read(self, topic: str, start: int, timeout_s: float, limit: int = 1000) -> tuple[list[Record], int]:
        """Return up to ``limit`` whole frames from byte ``start``, waiting up to ``timeout_s`` for one."""
        deadline = time.monotonic() + timeout_s
        while True:
            records, cursor = _twice_if_damaged(lambda: self._read_once(topic, start, limit))
            if records or time.monotonic() >= deadline:
                return records, cursor
            time.sleep(_POLL_S)

    def end(self, topic: str, timeout_s: float = 0.0) -> int:
        """Return the cursor after the last whole frame (never inside a torn or unfinished one)."""
        try:
            with open(self._path(topic), "rb") as handle:
                return _twice_if_damaged(lambda: self._whole_end(topic, handle))
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        """Nothing stays open between calls."""

    def _path(self, topic: str) -> Path:
        return self.folder / f"{topic}.log"

    def _cut_torn_tail(self, topic: str, handle) -> int:
        """Under the writer's lock: truncate what follows the last whole frame (no writer is mid-append); return its end."""
        size = os.fstat(handle.fileno()).st_size
        whole = self._whole_end(topic, handle)
        if whole < size:
            log.warning("%s: cutting off %d byte(s) of a frame left unfinished at byte %d (its writer stopped mid-append)",
                        self._path(topic), size - whole, whole)
            handle.truncate(whole)
            handle.seek(0, os.SEEK_END)
        return whole

    def _whole_end(self, topic: str, handle) -> int:
        """Walk frame headers from the last known whole end; return where the last frame that fits in the file ends.

        Headers only, no CRC: a walk costs one small read per frame appended since the last one.
        """
        status = os.fstat(handle.fileno())
        inode, position = self._whole.get(topic, (None, 0))
        if inode != status.st_ino or position > status.st_size:
            position = 0  # another file under this name (moved away and written anew): walk it from its start
        while status.st_size - position >= _FRAME.size:
            header = os.pread(handle.fileno(), _FRAME.size, position)
            if len(header) < _FRAME.size:
                break  # cut off since the size was taken (a reader walks without the lock)
            magic, length, _ = _FRAME.unpack(header)
            if magic != _MAGIC:
                raise _Damaged(f"{self._path(topic)} is damaged at byte {position}: no frame starts there; move the "
                               "file away and publish again")
            if position + _FRAME.size + length > status.st_size:
                break
            position += _FRAME.size + length
        self._whole[topic] = (status.st_ino, position)
        return position

    def _read_once(self, topic: str, start: int, limit: int) -> tuple[list[Record], int]:
        try:
            with open(self._path(topic), "rb") as handle:
                handle.seek(start)
                data = handle.read(_READ_BYTES)
                if len(data) >= _FRAME.size and _FRAME.size + _FRAME.unpack_from(data)[1] > len(data):
                    data += handle.read(_FRAME.size + _FRAME.unpack_from(data)[1] - len(data))
        except FileNotFoundError:
            return [], start
        records, position = [], 0
        while len(data) - position >= _FRAME.size and len(records) < limit:
            magic, length, crc = _FRAME.unpack_from(data, position)
            body = data[position + _FRAME.size:position + _FRAME.size + length]
            if magic != _MAGIC:
                raise _Damaged(f"{self._path(topic)} is damaged at byte {start + position}: no frame starts there")
            if len(body) < length:
                break  # a writer is still appending this frame, or was killed mid-append (the next one cuts it off)
            if zlib.crc32(body) != crc:
                raise _Damaged(f"{self._path(topic)} is damaged at byte {start + position}: the frame's CRC does not match")
            records.append(_decode(body, start + position))
            position += _FRAME.size + length
        return records, start + position


class _Damaged(BackendError):
    """Bytes that are no frame: damage, or a torn tail cut off and written anew while they were read."""


def _twice_if_damaged(read):
    """Call ``read``; if it met damage, call it once more after a pause: a reader's bytes can straddle a writer
    cutting a torn tail and appending in its place. Damage that is still there is reported."""
    try:
        return read()
    except _Damaged:
        time.sleep(_POLL_S)
        return read()


def _encode(record: Record) -> bytes:
    headers = json.dumps([[name, value.hex()] for name, value in record.headers]).encode()
    body = b"".join((_LENGTH.pack(len(record.key)), record.key, _LENGTH.pack(len(headers)), headers, record.value))
    return _FRAME.pack(_MAGIC, len(body), zlib.crc32(body)) + body


def _decode(body: bytes, offset: int) -> Record:
    (key_length,) = _LENGTH.unpack_from(body, 0)
    key = body[4:4 + key_length]
    (headers_length,) = _LENGTH.unpack_from(body, 4 + key_length)
    headers_at = 8 + key_length
    headers = tuple((name, bytes.fromhex(value)) for name, value in json.loads(body[headers_at:headers_at + headers_length]))
    return Record(key, body[headers_at + headers_length:], headers, offset)
