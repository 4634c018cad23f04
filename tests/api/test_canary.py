"""A canary on a real server: its share over 5,000 keyed requests, sticky keys, a share changed in the registry, the guard."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import _services
from _api_data import records, refused_serve, retrained_bundle
from mldeploy.examples import salary
from mldeploy.registry import Registry

pytestmark = pytest.mark.slow  # runs load for seconds


@pytest.fixture
def two_versions(tmp_path, salary_bundle) -> str:
    """salary@1 aliased production, salary@2 aliased staging; a registry of the test's own (the canary writes to it)."""
    with Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
        registry.set_alias(registry.register(retrained_bundle(3, tmp_path / "v2")), "staging")
    return str(tmp_path / "registry")


_ROW = records(salary.generate(1, seed=4).drop(columns=salary.TARGET))[0]


def _versions(server, keys: list[str], keyed: bool = True) -> dict[str, int]:
    with httpx.Client(base_url=server.url, timeout=30) as client, ThreadPoolExecutor(16) as pool:
        def ask(key: str) -> tuple[str, int]:
            answer = client.post("/predict/salary", json=_ROW | {"listing_id": key} if keyed else _ROW)
            assert answer.status_code == 200, answer.text
            return key, answer.json()["model_version"]

        return dict(pool.map(ask, keys))


def test_a_10_percent_canary_answers_a_tenth_of_5000_keys_and_each_key_sticks(two_versions):
    keys = [f"person-{i}" for i in range(5000)]
    with _services.api_server("--registry", two_versions, "serve", "salary:production", "--canary", "salary:staging=10%",
                              "--log-key", "listing_id") as server:
        first = _versions(server, keys)
        share = sum(1 for version in first.values() if version == 2) / len(keys)
        assert 0.08 <= share <= 0.12, share
        again = _versions(server, keys[:1000])
        assert all(again[key] == first[key] for key in again)  # a person always meets the same version

        with Registry(root=two_versions) as registry:
            registry.set_traffic("salary", "salary:staging", 100, reason="promote for the test")

        def all_on_the_challenger() -> None:
            assert set(_versions(server, keys[:50]).values()) == {2}

        _services.wait_until(all_on_the_challenger, 30, "the share from the registry")
        assert 'mldeploy_api_canary_share_percent{model="salary"} 100.0' in server.get("/metrics").text


def test_the_guard_stops_a_slow_canary_and_records_why(two_versions):
    with _services.api_server("--registry", two_versions, "serve", "salary:production", "--canary", "salary:staging=50%",
                              "--canary-max-p99-ms", "0.001") as server:  # no real model answers in a microsecond
        _versions(server, [f"k{i}" for i in range(400)], keyed=False)  # no --log-key: routed at random

        def stopped() -> None:
            with Registry(root=two_versions) as registry:
                record = registry.traffic("salary")
            assert record.share == 0 and record.reason.startswith("guard: p99")

        _services.wait_until(stopped, 30, "the guard's stop in the registry")
        assert set(_versions(server, [f"after{i}" for i in range(50)], keyed=False).values()) == {1}
    with Registry(root=two_versions) as registry:
        history = registry.traffic_history("salary")
        stops = [event for event in registry.journal.history("salary") if event.kind == "canary-stopped"]
    assert [h.share for h in history] == [50.0, 0.0] and "over 0.001 ms" in history[-1].reason
    assert len(stops) == 1 and stops[0].version == 2 and stops[0].reason.startswith("p99")


@pytest.mark.parametrize("canary, words", [
    ("salary:staging=150%", "from 0 to 100"),
    ("salary:staging", "is not REF=P%"),
    ("salary:nope=10%", "nope"),
    ("salary@1=10%", "version 1"),
])
def test_a_canary_that_cannot_run_is_refused_before_the_server_starts(two_versions, canary, words, capsys):
    assert words in refused_serve(capsys, two_versions, "--canary", canary)


def test_a_canary_that_never_passes_its_checks_leaves_every_answer_to_the_champion(tmp_path, salary_bundle):
    """Its share of requests must not get 503s while it loads, nor forever when it cannot."""
    import _bundles

    with Registry(root=tmp_path / "registry") as registry:
        registry.set_alias(registry.register(salary_bundle), "production")
        registry.set_alias(registry.register(_bundles.raising(salary_bundle, tmp_path, 2)), "staging")
    with _services.api_server("--registry", str(tmp_path / "registry"), "serve", "salary:production",
                              "--canary", "salary:staging=50%") as server:
        assert set(_versions(server, [f"k{i}" for i in range(200)], keyed=False).values()) == {1}
