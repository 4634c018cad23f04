"""The careers site under test: a small salary model trained the normal way, and the site's CLI on a free port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import _models
import _services
from _careers import MAX_CERTIFICATIONS, MAX_YEARS
from mldeploy.examples import salary
from mldeploy.ops import train_and_register

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def careers_registry(tmp_path_factory) -> Path:
    """A registry whose salary:production was trained by train_and_register (so it holds the residual quantiles)."""
    root = tmp_path_factory.mktemp("careers-registry")
    train_and_register(_models.salary_data(), salary.TARGET, name="salary", registry=root, alias="production",
                       factory=lambda: salary.default_pipeline(max_iter=25))
    return root


@pytest.fixture(scope="session")
def ort_dist() -> Path:
    """onnxruntime-web's dist folder, installed from npm by the project's script."""
    done = subprocess.run([str(REPO / "scripts" / "careers_js.sh"), str(REPO / ".cache" / "careers-js")],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/careers_js.sh failed: {done.stderr.strip()}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def careers_site(careers_registry: Path, ort_dist: Path, tmp_path_factory) -> Iterator[str]:
    """Run `mldeploy example careers-site --port 0` (embedded first); yield its URL; SIGTERM it afterwards."""
    workdir = tmp_path_factory.mktemp("careers-site")
    server = _services.start_api_server(
        "--registry", str(careers_registry), "example", "careers-site", "--mode", "embedded", "--workdir", str(workdir),
        "--js-dir", str(ort_dist), "--max-years", str(MAX_YEARS), "--max-certifications", str(MAX_CERTIFICATIONS))
    try:
        _services.wait_ready(server, "/api/form")
        yield server.url
    finally:
        code = _services.stop_process(server.process, timeout_s=60)
        assert code in (0, -15), f"the careers site exited with {code}"

