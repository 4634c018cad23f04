"""Offsets a scorer commits or rewinds to, from the batches it wrote (no broker needed: plain message values)."""

from __future__ import annotations

import confluent_kafka as ck

from mldeploy.stream._pending import BatchCounts, Pending, first_offsets

from _events import consumed as batch


def as_dict(partitions) -> dict[tuple[str, int], int]:
    return {(p.topic, p.partition): p.offset for p in partitions}


def test_commit_moves_each_partition_past_its_last_written_message():
    pending = Pending()
    pending.add(batch((0, 10), (1, 4), (0, 11)), BatchCounts(3, 3, 0, {"salary@1"}))
    pending.add(batch((1, 5), (0, 12), (2, 0), (0, 13), (1, 6)), BatchCounts(5, 4, 1, {"salary@1"}))
    assert as_dict(pending.commit_offsets(ck)) == {("events", 0): 14, ("events", 1): 7, ("events", 2): 1}
    assert [counts.events for counts in pending.batches] == [3, 5]


def test_an_abort_rewinds_each_partition_to_its_first_written_message():
    pending = Pending()
    pending.add(batch((0, 10), (1, 4), (0, 11)), BatchCounts(3, 3, 0))
    pending.add(batch((1, 5), (2, 7), (2, 8)), BatchCounts(3, 3, 0))
    assert pending.first == {("events", 0): 10, ("events", 1): 4, ("events", 2): 7}


def test_rewinding_past_batches_in_flight_keeps_the_earlier_written_offsets():
    in_flight = batch((0, 20), (3, 2), (3, 3))
    earlier = {("events", 0): 10}
    assert as_dict(first_offsets(ck, in_flight, earlier)) == {("events", 0): 10, ("events", 3): 2}
    assert earlier == {("events", 0): 10}
    assert as_dict(first_offsets(ck, [])) == {}
