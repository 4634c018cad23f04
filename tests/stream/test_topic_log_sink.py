"""The prediction log's topic sink: one JSON message a row, keyed by the log key, on a local log (the broker's is in test_scorer_log)."""

import json

from mldeploy.serving.prediction_log import LogRow
from mldeploy.stream.local_log import LocalLog
from mldeploy.stream.log_sink import TopicLogSink


class _Entry:
    def __init__(self, rows):
        self._rows = rows

    def __len__(self):
        return len(self._rows)

    def rows(self):
        return self._rows


def test_each_row_is_one_message_keyed_by_its_log_key_even_a_key_no_encoder_takes(tmp_path):
    rows = [LogRow("salary", key, 3, "r1", "api", "rest.predict", "served", 1.5, 42.0, None, None, '{"a":1}', 0.001)
            for key in ("L1", "lone\ud800surrogate")]  # the stdlib json parser lets a lone surrogate through
    sink = TopicLogSink(f"local:///{tmp_path}/served")
    try:
        sink.write([_Entry(rows)])
    finally:
        sink.close()
    records, _ = LocalLog(tmp_path).read("served", 0, timeout_s=1)
    assert [record.key for record in records] == [b"L1", b"lone?surrogate"]
    first = json.loads(records[0].value)
    assert first == dict(rows[0]._asdict()) and first["model_version"] == 3 and first["value"] == 42.0


def test_a_nan_or_infinite_number_is_json_null_with_or_without_a_row_only_the_stdlib_encodes(tmp_path):
    def row(key: str, value: float) -> LogRow:
        return LogRow("salary", key, 3, "r1", "api", "rest.predict", "served", 1.5, value, None, None, '{"a":"\u00e9"}', None)

    sink = TopicLogSink(f"local:///{tmp_path}/served")
    try:
        sink.write([_Entry([row("a", float("nan")), row("b", 2.5)])])  # orjson's batch
        sink.write([_Entry([row("c", float("-inf")), row("lone\udc80", 2.5)])])  # the stdlib's batch: a lone surrogate
    finally:
        sink.close()
    records, _ = LocalLog(tmp_path).read("served", 0, timeout_s=1)
    values = [json.loads(record.value) for record in records]  # NaN or -Infinity would read back as floats, not None
    assert [value["value"] for value in values] == [None, 2.5, None, 2.5]
    assert [value["key"] for value in values] == ["a", "b", "c", "lone\udc80"]
    assert {value["inputs"] for value in values} == {'{"a":"\u00e9"}'}


def test_rows_dumped_as_one_batch_split_back_into_their_own_messages_even_with_the_separator_in_a_text(tmp_path):
    def row(key: str, inputs: str) -> LogRow:
        return LogRow("salary", key, 3, "r1", "api", "rest.predict", "served", 1.5, 2.5, None, None, inputs, None)

    batches = [[row("a", '{"x":1}')], [row("b", "{}"), row("c", '{"x":"}"}'), row("d", "{}")],
               [row("e", '{"x":"},{"}'), row("f", "{}")]]  # the last: "},{" inside a text, so no split
    sink = TopicLogSink(f"local:///{tmp_path}/served")
    try:
        for rows in batches:
            sink.write([_Entry(rows)])
    finally:
        sink.close()
    records, _ = LocalLog(tmp_path).read("served", 0, timeout_s=1)
    assert [json.loads(record.value) for record in records] == [r._asdict() for rows in batches for r in rows]
    assert [record.key for record in records] == [b"a", b"b", b"c", b"d", b"e", b"f"]


def test_a_row_too_large_for_the_broker_is_dropped_and_counted_and_the_others_written(kafka_broker):
    from mldeploy.serving.prediction_log import PredictionLog

    def row(key: str, inputs: str) -> LogRow:
        return LogRow("salary", key, 3, "r1", "api", "rest.predict", "served", 1.5, 42.0, None, None, inputs, 0.001)

    huge = '{"note":"' + "x" * 3_000_000 + '"}'  # a request's 3 MB field: over what a Kafka message may hold
    log = PredictionLog(TopicLogSink(kafka_broker.url("served-large")))
    try:
        for entry in (_Entry([row("a", "{}")]), _Entry([row("big", huge)]), _Entry([row("b", "{}")])):
            log.submit(entry)
        assert log.flush(60)
    finally:
        log.close()
    assert (log.written, log.refused, log.dropped) == (2, 1, 1)
