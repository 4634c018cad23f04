"""The streaming scorer's log entry: one row per predicted event, whatever shape its prediction message has."""

import math

import pytest
from confluent_kafka import Message

from mldeploy.stream.log_entry import BatchEvents, ScoredEntry
from mldeploy.stream.scoring import Scored


def _rows(prediction: bytes):
    message = Message(topic="events", partition=0, offset=7, key=b"L1", value=b'{"age":30}')
    scored = Scored(predictions={0: prediction}, models={0: "churn@3"})
    return ScoredEntry(BatchEvents.of([message]), scored, "events", 1.5, with_inputs=True).rows()


@pytest.mark.parametrize("prediction, value, label, probabilities", [
    (b'{"prediction":41000.5}', 41000.5, None, None),
    (b'{"prediction":"no"}', None, "no", None),  # a classifier without predict_proba
    (b'{"label":"yes","probabilities":{"no":0.25,"yes":0.75}}', None, "yes", '{"no": 0.25, "yes": 0.75}'),
])
def test_each_shape_of_prediction_fills_value_or_label(prediction, value, label, probabilities):
    [row] = _rows(prediction)
    assert (row.value, row.label, row.probabilities) == (value, label, probabilities)
    assert (row.model_name, row.model_version, row.key, row.request_id, row.inputs) == ("churn", 3, "L1", "events/0/7", '{"age":30}')


def test_a_prediction_that_is_not_a_number_is_read_as_nan():
    [row] = _rows(b'{"prediction":NaN}')  # what json.dumps writes for a NaN prediction, which orjson refuses
    assert math.isnan(row.value)


def test_a_batch_across_two_versions_keeps_each_event_its_version_key_and_shape():
    messages = [Message(topic="events", partition=2, offset=10 + i, key=key, value=b'{"age":%d}' % i)
                for i, key in enumerate([b"a", None, b"c", None])]
    scored = Scored(predictions={0: b'{"prediction":"no"}', 1: b'{"label":"yes","probabilities":{"no":0.5,"yes":0.5}}',
                                 3: b'{"prediction":"yes"}'},  # event 2 was dead-lettered: no prediction, no row
                    models={0: "churn@3", 1: "churn@4", 3: "churn@4"})
    unkeyed = []
    rows = ScoredEntry(BatchEvents.of(messages), scored, "events", 1.5, with_inputs=False, count_unkeyed=unkeyed.append).rows()
    assert [(r.key, r.request_id, r.model_version, r.value, r.label, r.probabilities, r.inputs) for r in rows] == [
        ("a", "events/2/10", 3, None, "no", None, None),
        ("events/2/11", "events/2/11", 4, None, "yes", '{"no": 0.5, "yes": 0.5}', None),
        ("events/2/13", "events/2/13", 4, None, "yes", None, None),
    ]
    assert unkeyed == [2]
    assert all(type(row).__name__ == "LogRow" and row.source == "stream" for row in rows)


def test_the_log_key_is_read_from_each_event_and_an_entry_without_predictions_makes_no_rows():
    messages = [Message(topic="t", partition=0, offset=i, value=value)
                for i, value in enumerate([b'{"id":7,"age":1}', b'{"age":2}', b"not json"])]
    scored = Scored(predictions={0: b'{"prediction":1.5}', 1: b'{"prediction":2.5}', 2: b'{"prediction":3.5}'},
                    models={0: "m@1", 1: "m@1", 2: "m@1"})
    rows = ScoredEntry(BatchEvents.of(messages), scored, "t", 1.0, with_inputs=True, log_key="id").rows()
    assert [(r.key, r.value, r.label, r.inputs) for r in rows] == [
        ("7", 1.5, None, '{"id":7,"age":1}'), ("t/0/1", 2.5, None, '{"age":2}'), ("t/0/2", 3.5, None, "not json")]
    assert ScoredEntry(BatchEvents.of([]), Scored(), "t", 1.0, with_inputs=True).rows() == []


def test_a_queued_entry_holds_no_object_a_collection_walks_for_each_event():
    import gc

    messages = [Message(topic="t", partition=1, offset=i, key=b"k%d" % i, value=b'{"age":%d}' % i) for i in range(50)]
    events = BatchEvents.of(messages)
    assert all(gc.is_tracked(message) for message in messages)  # what the queue held before: one object an event
    assert not any(gc.is_tracked(value) for column in events for value in column)
    scored = Scored(predictions={i: b'{"prediction":1.5}' for i in range(0, 50, 2)}, models=dict.fromkeys(range(0, 50, 2), "m@1"))
    rows = ScoredEntry(events, scored, "t", 1.0, with_inputs=True).rows()  # every other event was dead-lettered
    assert [(row.key, row.request_id) for row in rows[:2]] == [("k0", "t/1/0"), ("k2", "t/1/2")] and len(rows) == 25


def test_an_event_with_a_lone_surrogate_keeps_its_log_key():
    message = Message(topic="t", partition=0, offset=9, value=b'{"note":"\xed\xa0\x80","id":"cust-7"}')  # CESU bytes
    scored = Scored(predictions={0: b'{"prediction":1.5}'}, models={0: "m@1"})
    [row] = ScoredEntry(BatchEvents.of([message]), scored, "t", 1.0, with_inputs=True, log_key="id").rows()
    assert row.key == "cust-7"
