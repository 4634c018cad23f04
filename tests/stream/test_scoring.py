"""Scoring a micro-batch without a broker: predictions by position, dead letters with every reason."""

import json

import pytest

from mldeploy.errors import SchemaError
from mldeploy.serving import load
from mldeploy.stream.scoring import decode_batch, infer_batch, outcome, score_batch

import _models

pytestmark = pytest.mark.timeout(60)

ROWS = [{k: (None if v != v else v) for k, v in row.items()}
        for row in _models.salary_data().drop(columns="salary").head(6).to_dict(orient="records")]


@pytest.fixture(scope="module")
def model(salary_registry):
    return load("salary@1", registry=salary_registry)


def test_each_event_gets_its_prediction_or_its_dead_letter_by_position(model):
    values = [json.dumps(ROWS[0]).encode(), b"{not json", json.dumps(ROWS[1] | {"age": "old"}).encode(),
              b"[1, 2]", json.dumps(ROWS[2]).encode()]
    scored = score_batch(model, values)
    expected = model.predict([ROWS[0], ROWS[2]])
    assert [json.loads(scored.predictions[p])["prediction"] for p in (0, 4)] == pytest.approx(list(expected))
    assert set(scored.models.values()) == {"salary@1"} and sorted(scored.dead) == [1, 2, 3]
    assert scored.dead[1][1][0].startswith("the message is not JSON")
    assert scored.dead[2] == ("invalid-event", [scored.dead[2][1][0]]) and scored.dead[2][1][0].startswith('field "age": expected')
    assert scored.dead[3][1] == ["expected one JSON object of fields, got list"]


def test_the_model_step_returns_a_schema_error_and_the_outcome_keeps_the_good_rows(model):
    decoded = decode_batch([json.dumps(ROWS[0] | {"remote": "perhaps"}).encode(), json.dumps(ROWS[3]).encode()])
    result = infer_batch(model, decoded)  # returned, not raised: it runs on the scorer's worker thread
    assert isinstance(result, SchemaError)
    scored = outcome(model, decoded, result)
    assert list(scored.dead) == [0] and scored.dead[0][1][0].startswith('field "remote": expected')
    assert json.loads(scored.predictions[1])["prediction"] == pytest.approx(model.predict([ROWS[3]])[0])


def test_a_batch_of_only_invalid_events_needs_no_model_call(model):
    decoded = decode_batch([b"", b"null"])
    assert infer_batch(model, decoded) is None
    assert sorted(outcome(model, decoded, None).dead) == [0, 1]
