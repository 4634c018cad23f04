"""Hot reload under continuous load from another process: several swaps, one broken version, no failed request."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mldeploy.bundle import Bundle
from mldeploy.registry import Registry

import _models
import _services
from _api_data import TOKEN, records, retrained_bundle

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # runs load for seconds

LOAD = Path(__file__).with_name("_load.py")


def _broken(directory: Path) -> Bundle:
    """A version holding a type the server does not trust: its load check fails."""
    pipeline, features = _models.custom_pipeline()
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=directory, compile=False,
                                trusted=("custom_features.ExperienceRatio",))  # trusted by its maker, not by the server


def _wait_for(check, what: str, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")


def _serving(server, version: int) -> bool:
    return server.post("/predict/salary", json=ROW[0]).json().get("model_version") == version


def _refused(server, version: int) -> bool:
    return f'mldeploy_api_swaps_total{{model="salary",outcome="refused:load",version="{version}"}}' in server.get("/metrics").text


ROW: list = []


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_alias_moves_under_load_fail_no_request(tmp_path, salary_bundle, new_rows, protocol):
    ROW[:] = records(new_rows.head(1))
    with Registry(root=tmp_path / "registry") as registry:
        first = registry.register(salary_bundle)
        registry.set_alias(first, "production")
        second = registry.register(retrained_bundle(3, tmp_path / "v2"))
        broken = registry.register(_broken(tmp_path / "v3"))
        fourth = registry.register(retrained_bundle(4, tmp_path / "v4"))
        rows = tmp_path / "rows.json"
        rows.write_text(json.dumps(records(new_rows.head(20))))
        stop, out = tmp_path / "stop", tmp_path / "answers.txt"
        with _services.api_server("--registry", str(tmp_path / "registry"), "serve", "salary:production", "--poll-interval", "0.1",
                                  "--grpc-port", "0", env={"MLDEPLOY_API_TOKEN": TOKEN}) as server:
            address = server.grpc if protocol == "grpc" else server.url
            load = subprocess.Popen([sys.executable, str(LOAD), address, TOKEN, str(rows), str(stop), str(out), "4", protocol])
            try:
                _wait_for(lambda: out.exists() and out.stat().st_size > 0, "the first answer to the load generator")
                for ref in (second, broken, fourth, first):
                    registry.set_alias(ref, "production")
                    if ref == broken:
                        _wait_for(lambda: _refused(server, broken.version), "the broken version's refusal")
                    else:
                        _wait_for(lambda: _serving(server, ref.version), f"serving {ref}")
            finally:
                stop.touch()
                load.wait(60)
    answers = [line.split(" ", 1) for line in out.read_text().splitlines()]
    failed = [a for a in answers if a[0] != "200"]
    assert failed == [], f"{len(failed)} of {len(answers)} requests failed, e.g. {failed[:3]}"
    versions = [int(version) for _, version in answers]
    assert set(versions) == {1, 2, 4}  # every answer names its version; the broken one never answered
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes[0] == 1 and 2 in changes and 4 in changes and len(answers) > 50
