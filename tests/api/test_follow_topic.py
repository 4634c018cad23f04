"""`mldeploy serve NAME --from URL`: the API server follows a model topic (local log or Kafka) instead of a registry."""

import time
import uuid

import pytest

from mldeploy.errors import ConfigError
from mldeploy.serving import open_model_source
from mldeploy.stream import publish

import _services
from _cli import run
from _api_data import records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # starts and restarts servers that follow topics


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def topic_url(request, tmp_path) -> str:
    topic = f"models-{uuid.uuid4().hex[:10]}"
    if request.param == "local":
        return f"local://{tmp_path}/log/{topic}"
    return request.getfixturevalue("kafka_broker").url(topic)


def _served_version(server, row) -> int | None:
    return server.post("/predict/salary", json=row).json().get("model_version")


def _wait_for_version(server, row, version: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _served_version(server, row) != version:
        assert time.monotonic() < deadline, f"the server did not serve version {version} within {timeout_s:.0f} s"
        time.sleep(0.05)


def test_the_server_serves_what_the_topic_publishes_and_swaps_to_each_new_version(topic_url, salary_registry, new_rows):
    row = records(new_rows.head(1))[0]
    publish(salary_registry.get("salary@1"), topic_url)
    with _services.api_server("serve", "salary", "--from", topic_url) as server:
        assert _served_version(server, row) == 1
        publish(salary_registry.get("salary@2"), topic_url)
        _wait_for_version(server, row, 2)
        assert server.get("/v2/models/salary/versions/2/ready").status_code == 200
        answer = server.post("/v2/models/salary/versions/1/infer", json={"inputs": []})
        assert answer.status_code == 404 and "follows" in answer.json()["error"]


def test_a_pinned_name_holds_its_version_while_newer_ones_arrive(tmp_path, salary_registry, new_rows):
    url = f"local://{tmp_path}/log/models"
    row = records(new_rows.head(1))[0]
    publish(salary_registry.get("salary@1"), url)
    publish(salary_registry.get("salary@2"), url)
    with _services.api_server("serve", "salary@1", "--from", url) as server:
        assert _served_version(server, row) == 1


def test_a_version_asked_for_by_number_is_answered_by_that_version_after_a_swap(tmp_path, salary_registry, new_rows):
    """The answer to /versions/1 never comes from the version a swap put in between finding the model and predicting."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from mldeploy.api.catalog import Catalog
    from mldeploy.api.config import ApiConfig
    from mldeploy.api.metrics import ApiMetrics

    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    config = ApiConfig(models=("salary",), source=url, poll_interval_s=0.1)
    with ThreadPoolExecutor(2) as executor, ThreadPoolExecutor(1) as loader:
        catalog = Catalog(config, executor, loader, ApiMetrics())
        try:
            served = catalog.get("salary")
            assert served.live.wait_ready(60)

            async def ask_for_version_1_across_a_swap():
                _, batcher = await served.pinned(1)
                publish(salary_registry.get("salary@2"), url)
                assert await asyncio.to_thread(served.live.wait_for_version, 2, 60)
                return await batcher.submit(records(new_rows.head(3)))

            assert asyncio.run(ask_for_version_1_across_a_swap()).version == 1
        finally:
            catalog.close()


def test_serving_an_alias_from_a_topic_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "serve", "salary:production", "--from", f"local://{tmp_path}/log/models")
    assert code == 2 and "names an alias too many" in err and "Traceback" not in err


def test_serving_from_a_scheme_nobody_offers_is_refused_in_one_line(capsys):
    code, _, err = run(capsys, "serve", "salary", "--from", "s3://bucket/models")
    assert code == 2 and "schemes on offer: kafka://, local://" in err and "Traceback" not in err


def test_with_a_cache_dir_a_restarted_server_serves_its_last_version_while_the_topic_is_gone(tmp_path, salary_registry, new_rows):
    import shutil

    url, cache, row = f"local://{tmp_path}/log/models", str(tmp_path / "cache"), records(new_rows.head(1))[0]
    publish(salary_registry.get("salary@2"), url)
    with _services.api_server("serve", "salary", "--from", url, "--cache-dir", cache) as server:
        assert _served_version(server, row) == 2
    shutil.rmtree(tmp_path / "log")
    with _services.api_server("serve", "salary", "--from", url, "--cache-dir", cache) as restarted:
        assert _served_version(restarted, row) == 2


def test_an_unknown_scheme_names_the_ones_on_offer():
    with pytest.raises(ConfigError, match=r"kafka://, local://"):
        open_model_source("s3://bucket/models", "salary")
