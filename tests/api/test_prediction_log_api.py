"""A real server logging every prediction (REST /predict, V2 infer, gRPC) to real PostgreSQL, sqlite and a Kafka topic."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import _services
from _api_data import records, refused_serve
from mldeploy.api.client import Client
from mldeploy.batch.backtest import validate
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.examples import salary

pytestmark = pytest.mark.slow  # starts servers and drives them with load


def _rows(count: int, seed: int = 5) -> tuple[list[dict], pd.DataFrame]:
    frame = salary.generate(count, seed=seed)
    truth = pd.DataFrame({"listing_id": [f"L{i}" for i in range(count)], "salary": frame[salary.TARGET]})
    rows = records(frame.drop(columns=salary.TARGET))
    for i, row in enumerate(rows):
        row["listing_id"] = f"L{i}"
    return rows, truth


def _v2_body(rows: list[dict]) -> dict:
    kinds = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}
    names = list(rows[0])
    return {"id": "v2-request", "inputs": [
        {"name": name, "datatype": kinds[type(next(r[name] for r in rows if r[name] is not None))], "shape": [len(rows)],
         "data": [r[name] for r in rows]} for name in names]}


def _served_count(url: str) -> int:
    with PredictionStore(url) as store:
        return sum(len(frame) for frame in store.iter_served("salary"))


def _wait_for_rows(url: str, expected: int, timeout_s: float = 60.0) -> None:
    _services.wait_until(lambda: _check(_served_count(url) >= expected, f"fewer than {expected} logged rows"),
                         timeout_s, "the prediction log")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _metric(server, name: str) -> float:
    text = server.get("/metrics").text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_every_endpoint_logs_to_postgresql_and_validate_joins_the_truth(served_registry, postgres_database):
    rows, truth = _rows(300)
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--grpc-port", "0",
                              "--log-to", postgres_database, "--log-key", "listing_id") as server:
        with ThreadPoolExecutor(16) as pool:  # under load: 200 single-row requests at once, REST /predict
            answers = list(pool.map(lambda row: server.post("/predict/salary", json=row), rows[:200]))
        assert all(answer.status_code == 200 for answer in answers), {a.status_code for a in answers}
        # V2 infer: the key is one more tensor beside the features
        assert server.post("/v2/models/salary/infer", json=_v2_body(rows[200:250])).status_code == 200
        with Client(server.grpc, "salary", protocol="grpc") as over_grpc:
            over_grpc.predict(rows[250:300])
        keyless = {k: v for k, v in rows[0].items() if k != "listing_id"}
        assert server.post("/predict/salary", json=[keyless, keyless]).status_code == 200
        _wait_for_rows(postgres_database, 302)
        assert _metric(server, "mldeploy_prediction_log_unkeyed_rows") == 2
        assert _metric(server, "mldeploy_prediction_log_dropped_rows") == 0

    with PredictionStore(postgres_database) as store:
        served = pd.concat(list(store.iter_served("salary")))
        assert served.groupby("endpoint").size().to_dict() == {"rest.predict": 202, "rest.infer": 50, "grpc.infer": 50}
        assert set(served.source) == {"api"} and set(served.role) == {"served"} and set(served.model_version) == {1}
        keyed = served[served.key.str.startswith("L")]
        assert sorted(keyed.key) == sorted(truth.listing_id)
        assert '"years_experience"' in keyed.inputs.iloc[0] and "listing_id" not in keyed.inputs.iloc[0]
        assert store.get("salary", "L7").model_version == 1  # latest_predictions reads the served rows too
        report = validate(store, truth, key="listing_id", target="salary", window="h")
    assert report.matched_rows == 300
    overall = report.table()
    assert list(overall.index) == [1] and overall.loc[1, "rows"] == 300 and overall.loc[1, "mae"] > 0


def test_log_inputs_none_logs_predictions_only_to_sqlite(served_registry, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    rows, _ = _rows(5)
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--log-to", url,
                              "--log-key", "listing_id", "--log-inputs", "none") as server:
        assert server.post("/predict/salary", json=rows).status_code == 200
        _wait_for_rows(url, 5)
    with PredictionStore(url) as store:
        served = pd.concat(list(store.iter_served("salary")))
    assert sorted(served.key) == [f"L{i}" for i in range(5)] and served.inputs.isna().all()


def test_a_kafka_topic_gets_one_message_per_prediction(served_registry, kafka_broker):
    from mldeploy.stream.schemes import open_transport
    from mldeploy.stream.transport import parse_url

    topic = f"served-{time.monotonic_ns()}"
    rows, _ = _rows(120, seed=9)
    with _services.api_server("--registry", served_registry, "serve", "salary:production",
                              "--log-to", kafka_broker.url(topic), "--log-key", "listing_id") as server:
        with ThreadPoolExecutor(8) as pool:
            assert {a.status_code for a in pool.map(lambda row: server.post("/predict/salary", json=row), rows)} == {200}
        transport = open_transport(parse_url(kafka_broker.url(topic)))
        try:
            seen: list = []

            def all_there() -> None:
                got, _ = transport.read(topic, len(seen), timeout_s=2.0)
                seen.extend(got)
                _check(len(seen) >= 120, f"{len(seen)} of 120 messages")

            _services.wait_until(all_there, 60, "the logged predictions on the topic")
        finally:
            transport.close()
    assert sorted(record.key.decode() for record in seen) == sorted(row["listing_id"] for row in rows)


@pytest.mark.parametrize("flags, named", [
    (["--log-to", "ftp://example/predictions"], "ftp://example/predictions"),
    (["--log-to", "sqlite:///x.db", "--log-inputs", "some"], "--log-inputs"),
])
def test_bad_log_options_are_one_line_and_exit_2(served_registry, flags, named, capsys):
    assert named in refused_serve(capsys, served_registry, *flags)
