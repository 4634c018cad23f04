"""Scoring a micro-batch without a broker: predictions by position, dead letters with every reason."""

import json

import pytest

from mldeploy.serving import Model, load
from mldeploy.serving.result import Accepted
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
    assert [json.loads(scored.predictions[p])["prediction"] for p in (0, 4)] == list(expected)  # bit for bit
    assert set(scored.models.values()) == {"salary@1"} and sorted(scored.dead) == [1, 2, 3]
    assert scored.dead[1][1][0].startswith("the message is not JSON")
    assert scored.dead[2] == ("invalid-event", [scored.dead[2][1][0]]) and scored.dead[2][1][0].startswith('field "age": expected')
    assert scored.dead[3][1] == ["expected one JSON object of fields, got list"]


def test_the_model_step_sets_a_bad_row_aside_and_the_outcome_keeps_the_good_rows(model):
    decoded = decode_batch([json.dumps(ROWS[0] | {"remote": "perhaps"}).encode(), json.dumps(ROWS[3]).encode()])
    result = infer_batch(model, decoded)  # returned, not raised: it runs on the scorer's worker thread
    assert isinstance(result, Accepted) and list(result.refused) == [0] and len(result.prediction) == 1
    scored = outcome(model, decoded, result)
    assert list(scored.dead) == [0] and scored.dead[0][1][0].startswith('field "remote": expected')
    assert json.loads(scored.predictions[1])["prediction"] == model.predict([ROWS[3]])[0]


def test_a_batch_of_only_invalid_events_needs_no_model_call(model):
    decoded = decode_batch([b"", b"null"])
    assert infer_batch(model, decoded) is None
    assert sorted(outcome(model, decoded, None).dead) == [0, 1]


@pytest.mark.parametrize("use_compiled", [True, False], ids=["compiled", "scikit-learn"])
def test_one_bad_event_in_500_costs_one_pipeline_call_for_the_other_499(model, use_compiled, monkeypatch):
    served = Model(model.bundle, use_compiled=use_compiled)
    owner, method = (served.compiled, "scores") if use_compiled else (served.pipeline, "predict")
    calls = []
    original = getattr(owner, method)
    monkeypatch.setattr(owner, method, lambda data: calls.append(len(data)) or original(data))
    events = [dict(ROWS[i % len(ROWS)]) for i in range(500)]
    events[250]["age"] = "old"
    scored = score_batch(served, [json.dumps(event).encode() for event in events])
    assert calls == [499]  # one call for the valid rows: not one per row, as when good rows were retried alone
    assert list(scored.dead) == [250] and len(scored.predictions) == 499
    assert json.loads(scored.predictions[251]) == json.loads(score_batch(served, [json.dumps(events[251]).encode()]).predictions[0])
