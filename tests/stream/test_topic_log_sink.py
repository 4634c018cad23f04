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
