"""The outage clock: retries within the limit, one line past it, and calls that never return."""

import threading

import confluent_kafka as ck
import pytest

from mldeploy.errors import BackendError
from mldeploy.stream import _outage
from mldeploy.stream._outage import OutageClock, Wedged, call_within

pytestmark = pytest.mark.timeout(30)


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_retried_until_the_limit_then_one_line_says_what_to_check():
    clock = _Clock()
    outage = OutageClock(20, "127.0.0.1:9092", clock)
    outage.failed("committing a transaction", "Local: Timed out")
    clock.now += 20
    outage.failed("committing a transaction", "Local: Timed out")  # at the limit: still waiting
    assert outage.is_running and outage.call_s() == 1.0
    clock.now += 0.5
    with pytest.raises(BackendError) as raised:
        outage.failed("committing a transaction", "Local: Timed out")
    assert str(raised.value) == (
        "Kafka at 127.0.0.1:9092: committing a transaction failed for more than 20 s (--outage-limit), last with "
        "Local: Timed out; check that the broker runs and this host can reach it, then start the scorer again "
        "(it reads every event it did not commit again)")
    assert "\n" not in str(raised.value)


def test_a_success_ends_the_outage_and_a_later_one_has_the_whole_limit_again():
    clock = _Clock()
    outage = OutageClock(20, "b:1", clock)
    outage.noticed("reading events", "all brokers down")
    clock.now += 15
    outage.recovered()
    assert not outage.is_running and outage.call_s() == 5.0
    outage.failed("reading events", "all brokers down")
    clock.now += 19
    outage.failed("reading events", "all brokers down")  # 34 s since the first failure, 19 s into this outage


def test_retried_calls_again_on_retriable_errors_and_raises_the_others_at_once():
    outage = OutageClock(60, "b:1")
    answers = [ck.KafkaError(ck.KafkaError._TIMED_OUT, "slow", retriable=True), "done"]

    def call(_timeout_s):
        answer = answers.pop(0)
        if isinstance(answer, ck.KafkaError):
            raise ck.KafkaException(answer)
        return answer

    assert outage.retried("committing", call, ck.KafkaException) == "done" and outage.is_running
    abortable = ck.KafkaError(ck.KafkaError._STATE, "abort it", txn_requires_abort=True)
    with pytest.raises(ck.KafkaException):
        outage.retried("committing", lambda _: (_ for _ in ()).throw(ck.KafkaException(abortable)), ck.KafkaException)


def test_a_call_that_never_returns_is_reported_wedged(monkeypatch):
    monkeypatch.setattr(_outage, "_GRACE_S", 0.1)
    never = threading.Event()
    with pytest.raises(Wedged, match=r"no answer in 0.2 s"):
        call_within(lambda timeout_s: never.wait(), 0.1)
    never.set()
    assert call_within(lambda timeout_s: timeout_s * 2, 0.1) == 0.2
    with pytest.raises(ZeroDivisionError):
        call_within(lambda timeout_s: 1 / 0, 0.1)
