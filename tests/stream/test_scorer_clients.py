"""Which Kafka errors mean that a newer scorer of the same identity took this one's place."""

from __future__ import annotations

import pytest

from mldeploy.stream._outage import Wedged
from mldeploy.stream._scorer_clients import fenced

ck = pytest.importorskip("confluent_kafka")


@pytest.mark.parametrize("code", ["_FENCED", "FENCED_INSTANCE_ID", "PRODUCER_FENCED"])
def test_fencing_codes_are_fenced_bare_or_wrapped(code):
    error = ck.KafkaError(getattr(ck.KafkaError, code))
    assert fenced(ck, error) and fenced(ck, ck.KafkaException(error))


def test_a_consumer_fenced_as_a_static_member_reports_fatal_with_the_reason_in_words():
    error = ck.KafkaError(ck.KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer")
    assert fenced(ck, error)
    assert not fenced(ck, ck.KafkaError(ck.KafkaError._FATAL, "Fatal error: out of memory"))


def test_other_failures_and_stuck_calls_are_not_fencing():
    assert not fenced(ck, ck.KafkaError(ck.KafkaError._TRANSPORT))
    assert not fenced(ck, Wedged("no answer in 10 s"))
    assert not fenced(ck, ck.KafkaException("no error object"))
