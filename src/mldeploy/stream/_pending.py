"""Micro-batches a scorer has written but not yet committed, and the offsets they commit or rewind to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["BatchCounts", "Pending", "first_offsets"]


@dataclass
class BatchCounts:
    """What a written batch adds to the scorer's counts once committed."""

    events: int
    predictions: int
    dead_letters: int
    models: set = field(default_factory=set)


class Pending:
    """Batches written since the last commit (inside one transaction, or awaiting acknowledgement).

    Keeps each partition's first and next offsets and the batches' counts, not the messages:
    a commit interval holds a hundred thousand of them, and every one the garbage collector
    has to walk while they live (it took a tenth of the scorer's time).
    """

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.first: dict[tuple[str, int], int] = {}
        """Offset of the first message of each partition (where an abort rewinds to)."""
        self.next: dict[tuple[str, int], int] = {}
        """One past the last message of each partition (what a commit moves the group to)."""
        self.batches: list[BatchCounts] = []

    def add(self, messages: list, counts: BatchCounts) -> None:
        """Take in a written batch of messages (in the order read) and its counts."""
        self.first = _first(messages) | self.first  # earlier batches win
        self.next |= {(m.topic(), m.partition()): m.offset() + 1 for m in messages}  # later messages overwrite earlier ones
        self.batches.append(counts)

    def age_s(self) -> float:
        """Seconds since the first batch was taken in."""
        return time.monotonic() - self.started_at

    def commit_offsets(self, ck) -> list:
        """The offsets to commit: one past the last message of each partition."""
        return [ck.TopicPartition(topic, partition, offset) for (topic, partition), offset in self.next.items()]


def first_offsets(ck, messages: list, earlier: dict[tuple[str, int], int] | None = None) -> list:
    """Where to rewind to: the first offset of each partition among ``messages``, unless ``earlier`` has one."""
    first = _first(messages) | (earlier or {})
    return [ck.TopicPartition(topic, partition, offset) for (topic, partition), offset in first.items()]


def _first(messages: list) -> dict[tuple[str, int], int]:
    # Read backwards, an earlier message overwrites a later one of its partition
    return {(m.topic(), m.partition()): m.offset() for m in reversed(messages)}
