"""The streaming scorer's log entry: one row per predicted event, whatever shape its prediction message has."""

import math

import pytest
from confluent_kafka import Message

from mldeploy.stream.log_entry import ScoredEntry
from mldeploy.stream.scoring import Scored


def _rows(prediction: bytes):
    message = Message(topic="events", partition=0, offset=7, key=b"L1", value=b'{"age":30}')
    scored = Scored(predictions={0: prediction}, models={0: "churn@3"})
    return ScoredEntry([message], scored, "events", 1.5, with_inputs=True).rows()


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
