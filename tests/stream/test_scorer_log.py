"""The streaming scorer's prediction log: every predicted event in real PostgreSQL (or sqlite), keyed, validated."""

import json
import threading
import uuid

import pandas as pd
import pytest

from mldeploy.batch.backtest import validate
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.serving.prediction_log import PredictionLog, open_prediction_log
from mldeploy.stream import publish
from mldeploy.stream.predictors import ModelSpec
from mldeploy.stream.scorer import ScorerConfig, StreamScorer
from mldeploy.stream.transport import parse_url

import _models
from _events import Reader, create_topics, produce, rows_as_events

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

DATA = _models.salary_data().head(60)
ROWS = [{k: (None if v != v else v) for k, v in row.items()} for row in DATA.drop(columns="salary").to_dict(orient="records")]


def _score(kafka_broker, salary_registry, tmp_path, events: dict, log: PredictionLog, partitions: int, **settings) -> list:
    """Publish salary@1, produce ``events``, score them all with a scorer process logging to ``log``; return the predictions."""
    model_url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), model_url)
    topic = settings.pop("topic")
    create_topics(kafka_broker.bootstrap, partitions, topic)
    produce(kafka_broker.bootstrap, topic, events)
    config = ScorerConfig(parse_url(kafka_broker.url(topic)), parse_url(kafka_broker.url(f"{topic}-out")), max_batch=16,
                          group=f"g-{topic}", **settings)
    scorer = StreamScorer(ModelSpec(model_url, "salary"), config, prediction_log=log)
    thread = threading.Thread(target=scorer.run)
    thread.start()
    predictions = Reader(kafka_broker.bootstrap, f"{topic}-out", partitions)
    try:
        predictions.until(lambda m: len(m) >= len(events) - sum(1 for k in events if k == b"bad"), 90)
    finally:
        scorer.stop()
        thread.join(30)
        predictions.close()
    assert log.flush(30)
    log.close()
    return predictions.messages


def test_the_scorer_logs_each_prediction_under_its_event_key_and_validate_joins_the_truth(
        kafka_broker, salary_registry, tmp_path, postgres_database):
    topic = f"events-{uuid.uuid4().hex[:8]}"
    events = rows_as_events(ROWS[:50]) | {b"bad": json.dumps(ROWS[0] | {"age": "old"}).encode(), b"": json.dumps(ROWS[50]).encode()}
    log = open_prediction_log(postgres_database)
    messages = _score(kafka_broker, salary_registry, tmp_path, events, log, 2, topic=topic)
    assert (log.written, log.dropped, log.unkeyed) == (51, 0, 1)

    with PredictionStore(postgres_database) as store:
        served = pd.concat(list(store.iter_served("salary")))
        assert set(served.source) == {"stream"} and set(served.endpoint) == {topic} and set(served.model_version) == {1}
        keyed = served[served.key.str.startswith("k")].set_index("key")
        assert len(keyed) == 50 and json.loads(keyed.loc["k3", "inputs"]) == json.loads(events[b"k3"])
        sent = {m.key(): json.loads(m.value())["prediction"] for m in messages}
        assert keyed.loc["k3", "value"] == sent[b"k3"]  # the logged prediction is the one the topic got
        truth = pd.DataFrame({"id": [f"k{i}" for i in range(50)], "salary": DATA["salary"].head(50)})
        report = validate(store, truth, key="id", target="salary")
    assert report.matched_rows == 50 and report.table().loc[1, "rows"] == 50


def test_with_log_key_the_field_is_taken_out_before_validation_and_keys_the_log(kafka_broker, salary_registry, tmp_path):
    topic = f"events-{uuid.uuid4().hex[:8]}"
    events = {f"k{i}".encode(): json.dumps(row | {"listing_id": f"L{i}"}).encode() for i, row in enumerate(ROWS[:30])}
    events[b"no-id"] = json.dumps(ROWS[30]).encode()
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = open_prediction_log(url)
    # extra="reject" (the default), yet no event is a dead letter: the key field never reaches validation
    _score(kafka_broker, salary_registry, tmp_path, events, log, 1, topic=topic, log_key="listing_id")
    assert (log.written, log.unkeyed) == (31, 1)
    with PredictionStore(url) as store:
        served = pd.concat(list(store.iter_served("salary")))
    keys = set(served.key)
    assert {f"L{i}" for i in range(30)} < keys and any(k.startswith(f"{topic}/0/") for k in keys)
