"""Micro-batches a scorer has written but not yet committed, and the offsets they commit or rewind to."""

from __future__ import annotations

import time

__all__ = ["Pending", "first_offsets", "next_offsets"]


class Pending:
    """Batches written since the last commit (inside one transaction, or awaiting acknowledgement)."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.batches: list[tuple[list, object]] = []

    def add(self, messages: list, scored: object) -> None:
        """Take in a written batch of messages and its outcome (counted once committed)."""
        self.batches.append((messages, scored))

    def age_s(self) -> float:
        """Seconds since the first batch was taken in."""
        return time.monotonic() - self.started_at

    def messages(self) -> list:
        """Every message of every batch, in the order read."""
        return [m for messages, _ in self.batches for m in messages]


def first_offsets(ck, messages: list) -> list:
    """Return the offset of the first message of each partition among ``messages`` (where to rewind to)."""
    first: dict[tuple[str, int], int] = {}
    for message in messages:
        first.setdefault((message.topic(), message.partition()), message.offset())
    return [ck.TopicPartition(topic, partition, offset) for (topic, partition), offset in first.items()]


def next_offsets(ck, messages: list) -> list:
    """Return the offsets to commit: one past the last message of each partition."""
    last = {(m.topic(), m.partition()): m.offset() for m in messages}  # later messages overwrite earlier ones
    return [ck.TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]
