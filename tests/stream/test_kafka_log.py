"""librdkafka's lines reach logging as warnings at most, one per kind per interval, counting what was left out."""

import logging

from mldeploy.stream.kafka_log import RateLimitedKafkaLog


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_each_kind_of_line_logs_once_per_interval_and_says_how_many_were_left_out(caplog):
    clock = _Clock()
    log = RateLimitedKafkaLog(logging.getLogger("test.librdkafka"), interval_s=30, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="test.librdkafka"):
        for _ in range(20):  # a second of a broker that is down
            log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "Connect to 127.0.0.1:9 failed")
            clock.now += 0.05
        log.log(logging.WARNING, "%s [%s] %s", "IDEMPPID", "rdkafka#producer-1", "Failed to acquire idempotence PID")
        clock.now = 31.0
        log.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "Connect to 127.0.0.1:9 failed")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (logging.WARNING, "FAIL [rdkafka#producer-1] Connect to 127.0.0.1:9 failed"),
        (logging.WARNING, "IDEMPPID [rdkafka#producer-1] Failed to acquire idempotence PID"),
        (logging.WARNING, "FAIL [rdkafka#producer-1] Connect to 127.0.0.1:9 failed (19 more like it in the last 30 s left out)"),
    ]


def test_informational_lines_keep_their_level(caplog):
    log = RateLimitedKafkaLog(logging.getLogger("test.librdkafka.info"), clock=_Clock())
    with caplog.at_level(logging.DEBUG, logger="test.librdkafka.info"):
        log.log(logging.INFO, "%s [%s] %s", "CONFWARN", "rdkafka#consumer-2", "a note")
    assert [r.levelno for r in caplog.records] == [logging.INFO]
