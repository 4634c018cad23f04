"""The log's database stopped and restarted under load: requests keep succeeding, and what is missing is what was counted."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

import _services
from _api_data import records
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.examples import salary

_QUEUE_ROWS = 300

pytestmark = pytest.mark.postgres  # starts a PostgreSQL cluster of its own in the test body


def _gauge(server, what: str) -> int:
    found = re.search(rf"^mldeploy_prediction_log_{what}_rows (\S+)$", server.get("/metrics").text, re.M)
    assert found, f"mldeploy_prediction_log_{what}_rows not in /metrics"
    return int(float(found.group(1)))


def _stored(url: str) -> int:
    with PredictionStore(url) as store:
        return sum(len(frame) for frame in store.iter_served("salary"))


def _send(server, rows: list[dict]) -> None:
    with ThreadPoolExecutor(8) as pool:
        statuses = {answer.status_code for answer in pool.map(lambda row: server.post("/predict/salary", json=row), rows)}
    assert statuses == {200}


def _until(check, what: str, timeout_s: float = 90.0) -> None:
    def assertion() -> None:
        if not check():
            raise AssertionError(f"not yet: {what}")

    _services.wait_until(assertion, timeout_s, what)


def test_a_database_that_goes_away_loses_only_what_the_queue_could_not_hold(served_registry):
    rows = records(salary.generate(1300, seed=13).drop(columns=salary.TARGET))
    with _services.postgres_server() as database:  # a cluster of its own, so this test may stop it
        url = database.url
        with _services.api_server("--registry", served_registry, "serve", "salary:production", "--log-to", url,
                                  "--log-queue-rows", str(_QUEUE_ROWS)) as server:
            _send(server, rows[:100])
            _until(lambda: _stored(url) == 100, "the first 100 rows stored")

            _services.run_script(str(_services.POSTGRES_SH), "stop", str(database.data_dir), timeout_s=60)
            _send(server, rows[100:1200])  # every request answers while the log's database is away
            dropped = _gauge(server, "dropped")
            assert 1100 - _QUEUE_ROWS <= dropped < 1100, dropped

            _services.run_script(str(_services.POSTGRES_SH), "start", str(database.data_dir), str(database.port),
                                 timeout_s=60)
            _until(lambda: _gauge(server, "queued") == 0, "the queue drained after the restart")
            _send(server, rows[1200:])
            _until(lambda: _gauge(server, "queued") == 0, "the last rows written")
            assert _gauge(server, "dropped") == dropped
            assert _gauge(server, "written") + dropped == 1300
        assert _stored(url) == 1300 - dropped
