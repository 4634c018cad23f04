"""A shadow challenger on a real server: every request answered by the champion, both predictions logged under one key."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import _cli
import _services
from _api_data import records, refused_serve, retrained_bundle
from mldeploy.batch.backtest import validate
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.examples import salary
from mldeploy.registry import Registry

pytestmark = pytest.mark.slow  # starts servers with two models each and drives them with load


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, salary_bundle) -> str:
    """salary@1 aliased production, salary@2 (trained on other rows) aliased staging."""
    root = tmp_path_factory.mktemp("shadow")
    with Registry(root=root / "registry") as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
        registry.set_alias(registry.register(retrained_bundle(3, root / "v2")), "staging")
    return str(root / "registry")


def _rows(count: int) -> list[dict]:
    rows = records(salary.generate(count, seed=17).drop(columns=salary.TARGET))
    return [row | {"listing_id": f"L{i}"} for i, row in enumerate(rows)]


def _logged(url: str) -> pd.DataFrame:
    with PredictionStore(url) as store:
        frames = list(store.iter_served("salary"))
    return pd.concat(frames) if frames else pd.DataFrame(columns=["role"])


def test_the_challenger_scores_every_request_after_the_answer_and_both_are_logged(two_versions, postgres_database):
    rows = _rows(400)
    with _services.api_server("--registry", two_versions, "serve", "salary:production", "--shadow", "salary:staging",
                              "--log-to", postgres_database, "--log-key", "listing_id") as server:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda row: server.post("/predict/salary", json=row), rows))
        assert [a.status_code for a in answers].count(200) == len(rows)  # zero failed requests
        assert {a.json()["model_version"] for a in answers} == {1}  # the champion answers, always

        def both_logged() -> None:
            assert len(_logged(postgres_database)) == 2 * len(rows)

        _services.wait_until(both_logged, 60, "both predictions of every request logged")
        counted = re.search(r'mldeploy_api_shadow_predictions_total\{model="salary",outcome="ok",version="2"\} (\S+)',
                            server.get("/metrics").text)
        assert counted and float(counted.group(1)) == len(rows)
    logged = _logged(postgres_database)
    by_role = {role: part.set_index("key") for role, part in logged.groupby("role")}
    assert set(by_role["served"].model_version) == {1} and set(by_role["shadow"].model_version) == {2}
    assert sorted(by_role["served"].index) == sorted(by_role["shadow"].index) == sorted(r["listing_id"] for r in rows)
    assert (by_role["served"].request_id.sort_index() == by_role["shadow"].request_id.sort_index()).all()
    assert (by_role["served"].value.sort_index() != by_role["shadow"].value.sort_index()).any()  # another model indeed
    with PredictionStore(postgres_database) as store:  # the app's view shows the answer sent, not the shadow's
        assert store.get("salary", "L5").model_version == 1


@pytest.mark.parametrize("challenger, words", [
    ("salary:nope", "nope"),
    ("salary:production", "already served"),
    ("salary@1", "version 1"),
    ("other:staging", "not a version of a served model"),
])
def test_a_shadow_that_cannot_be_compared_is_refused_before_the_server_starts(two_versions, challenger, words, capsys):
    assert words in refused_serve(capsys, two_versions, "--shadow", challenger)


def test_the_shadow_report_compares_both_on_the_same_requests(two_versions, tmp_path, capsys):
    from mldeploy.batch.shadow_report import shadow_report

    url = f"sqlite:///{tmp_path / 'log.db'}"
    frame = salary.generate(60, seed=17)
    rows = _rows(60)
    with _services.api_server("--registry", two_versions, "serve", "salary:production", "--shadow", "salary:staging",
                              "--log-to", url, "--log-key", "listing_id") as server:
        assert server.post("/predict/salary", json=rows[:50]).status_code == 200
        for row in rows[50:]:
            assert server.post("/predict/salary", json=row).status_code == 200
        _services.wait_until(lambda: _check(len(_logged(url)) == 120), 60, "both logged")
    truth = pd.DataFrame({"listing_id": [f"L{i}" for i in range(40)], "salary": frame.salary.head(40)})
    with PredictionStore(url) as store:
        report = shadow_report(store, "salary", "1h", truth, "listing_id", "salary")
    assert (report.paired, report.unpaired, report.truth_rows, report.task) == (60, 0, 40, "regression")
    assert report.champion.versions == [1] and report.challenger.versions == [2]
    assert report.agreement > 0 and report.champion.error > 0 and report.challenger.error > 0
    assert report.champion.latency_p50_ms > 0 and report.challenger.latency_p99_ms > 0
    logged = _logged(url)
    shadow = logged[logged.role == "shadow"].set_index("key").value
    served = logged[logged.role == "served"].set_index("key").value
    assert report.agreement == pytest.approx((served - shadow.loc[served.index]).abs().mean())
    with PredictionStore(url) as store:  # validate: both versions' metrics from the same served requests
        validated = validate(store, truth, key="listing_id", target="salary", window="h").table()
    assert list(validated.index) == [1, 2] and list(validated["rows"]) == [40, 40]
    assert validated.loc[1, "mae"] == pytest.approx(report.champion.error)
    assert validated.loc[2, "mae"] == pytest.approx(report.challenger.error)

    truth_file = tmp_path / "truth.csv"
    truth.to_csv(truth_file, index=False)
    code, out, err = _cli.run(capsys, "shadow-report", "salary", "--db", url, "--since", "1h", "--truth", str(truth_file),
                              "--key", "listing_id", "--target", "salary", "--json")
    assert code == 0, err
    assert json.loads(out)["paired"] == 60
    code, _, err = _cli.run(capsys, "shadow-report", "salary", "--db", url, "--since", "soon")
    assert code == 2 and "--since 'soon'" in err


def _check(condition: bool) -> None:
    if not condition:
        raise AssertionError("not yet")
