"""Build the salary wheel, install it with the Flask example in a fresh venv, and call the app over HTTP.

The wheel is checked as a file (RECORD hashes, METADATA) and then as a
dependency: a new virtual environment gets mldeploy from this checkout, flask
and the wheel, and the example app runs there on loopback, where its answers
must match ``pipeline.predict``.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sklearn

import mldeploy
from _services import free_port
from mldeploy.embedded.wheel import build_wheel
from mldeploy.examples import salary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "flask_app" / "app.py"
INSTALL_TIMEOUT_S = 420.0
READY_TIMEOUT_S = 180.0  # a deadline, not a wait: polling stops as soon as /health answers
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Trained:
    """A fitted pipeline, its training features and its registered bundle."""

    pipeline: object
    features: pd.DataFrame
    bundle: mldeploy.Bundle


@dataclass(frozen=True)
class Response:
    """Status and decoded JSON body of one HTTP call."""

    status: int
    body: object


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    """Train a small salary pipeline and register it, so the bundle has a version."""
    table = salary.generate(2000, seed=7)
    features = table.drop(columns="salary")
    pipeline = salary.default_pipeline(max_iter=20).fit(features, table["salary"])
    with mldeploy.Registry(root=tmp_path_factory.mktemp("registry")) as registry:
        ref = registry.register(mldeploy.Bundle.from_pipeline(pipeline, features, name="salary"))
        bundle = registry.get(ref)
    return Trained(pipeline, features, bundle)


@pytest.fixture(scope="module")
def wheel(trained: Trained, tmp_path_factory) -> Path:
    """The wheel ``build_wheel`` writes for the registered bundle."""
    return build_wheel(trained.bundle, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory) -> Path:
    """Python of a fresh venv holding this checkout's mldeploy, flask and the wheel."""
    scratch = tmp_path_factory.mktemp("venv")
    python = create_venv(scratch / "venv")
    install(python, f"mldeploy[onnx] @ {copy_source(scratch / 'mldeploy').as_uri()}", "flask>=3", wheel)
    return python


@pytest.fixture(scope="module")
def app_url(venv_python: Path, tmp_path_factory) -> Iterator[str]:
    """Base URL of the example app, served from the fresh venv on 127.0.0.1; stopped afterwards."""
    workdir = tmp_path_factory.mktemp("app")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    flask = venv_python.parent / "flask"
    command = [str(flask), "--app", str(APP), "run", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=workdir, env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(server, url, log_path)
        yield url
    finally:
        stop(server)


# ---------------------------------------------------------------- the wheel as a file


def test_wheel_is_named_for_the_model_and_version(wheel: Path, trained: Trained):
    assert wheel.name == f"salary_model-{trained.bundle.version}-py3-none-any.whl"


def test_wheel_carries_the_module_and_every_bundle_file(wheel: Path, trained: Trained):
    folder = trained.bundle.path
    expected = {f"salary_model/bundle/{p.relative_to(folder).as_posix()}": p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        carried = {name: archive.read(name) for name in names if name.startswith("salary_model/bundle/")}
    assert "salary_model/__init__.py" in names
    assert sorted(carried) == sorted(expected)
    assert carried == expected


def test_wheel_record_lists_every_file_with_its_hash_and_size(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        record_name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(archive.read(record_name).decode())))
        recorded = {path: (digest, size) for path, digest, size in rows}
        assert set(recorded) == set(archive.namelist())
        assert recorded.pop(record_name) == ("", "")
        for path, (digest, size) in recorded.items():
            data = archive.read(path)
            assert digest == "sha256=" + urlsafe_sha256(data), path
            assert size == str(len(data)), path


def test_wheel_metadata_names_the_model_and_requires_mldeploy(wheel: Path, trained: Trained):
    version = trained.bundle.version
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.parser.Parser().parsestr(archive.read(f"salary_model-{version}.dist-info/METADATA").decode())
    assert metadata["Name"] == "salary_model"
    assert metadata["Version"] == str(version)
    sklearn_minor = ".".join(sklearn.__version__.split(".")[:2])
    assert sorted(metadata.get_all("Requires-Dist")) == ["mldeploy[onnx]>=0.1", f"scikit-learn=={sklearn_minor}.*"]


# ---------------------------------------------------------------- the wheel as a dependency of the Flask app


def test_health_names_the_embedded_model(app_url: str, trained: Trained):
    response = get(f"{app_url}/health")
    assert (response.status, response.body) == (200, {"status": "ok", "model": str(trained.bundle.ref), "path": "compiled"})


def test_estimate_for_one_profile_matches_the_pipeline(app_url: str, trained: Trained):
    row = trained.features.iloc[[0]]
    response = post(f"{app_url}/estimate", json.dumps(profiles(row)[0]).encode())
    assert response.status == 200, response.body
    assert response.body["model"] == str(trained.bundle.ref)
    expected = float(trained.pipeline.predict(row)[0])
    assert math.isclose(response.body["estimate"], expected, rel_tol=1e-9)


def test_estimate_for_a_list_matches_the_pipeline_row_by_row(app_url: str, trained: Trained):
    rows = trained.features.iloc[:25]
    response = post(f"{app_url}/estimate", json.dumps(profiles(rows)).encode())
    assert response.status == 200, response.body
    expected = trained.pipeline.predict(rows)
    assert len(response.body["estimate"]) == len(expected)
    for got, want in zip(response.body["estimate"], expected):
        assert math.isclose(got, float(want), rel_tol=1e-9)


def test_a_bad_field_is_422_naming_row_and_field(app_url: str, trained: Trained):
    profile = profiles(trained.features.iloc[[0]])[0] | {"years_experience": "ten"}
    response = post(f"{app_url}/estimate", json.dumps(profile).encode())
    assert response.status == 422, response.body
    assert 'row 0, field "years_experience"' in response.body["error"]
    assert "ten" in response.body["error"]
    [issue] = response.body["issues"]
    assert (issue["row"], issue["field"]) == (0, "years_experience")
    assert "ten" in issue["got"]


def test_malformed_json_is_400_with_a_clear_message(app_url: str):
    response = post(f"{app_url}/estimate", b'{"years_experience": 4,')
    assert response.status == 400, response.body
    assert "not valid JSON" in response.body["error"]
    assert "JSON object" in response.body["error"]


# ---------------------------------------------------------------- helpers


def urlsafe_sha256(data: bytes) -> str:
    """Return the digest as RECORD spells it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def profiles(rows: pd.DataFrame) -> list[dict]:
    """Turn feature rows into JSON-ready dicts, as a web form would send them."""
    return [{name: plain(value) for name, value in row.items()} for row in rows.to_dict(orient="records")]


def plain(value):
    """Return a numpy scalar as its Python value, and a missing value as None."""
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def base_python() -> str:
    """The interpreter this test venv was made from, so the fresh venv runs the same Python."""
    # sys._base_executable is private but stable since 3.7; it is what `python -m venv` itself uses.
    return getattr(sys, "_base_executable", sys.executable)


def find_uv() -> str | None:
    """Return the uv binary (the dev extra installs it), or None to fall back to venv and pip."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def create_venv(path: Path) -> Path:
    """Create an empty virtual environment at ``path`` and return its Python."""
    uv = find_uv()
    if uv:
        run([uv, "venv", "--quiet", "--python", base_python(), str(path)])
    else:
        run([base_python(), "-m", "venv", str(path)])
    return path / "bin" / "python"


def install(python: Path, *requirements: str | Path) -> None:
    """Install requirements into the venv of ``python`` in one resolve."""
    # One resolve, so the wheel's `mldeploy>=0.1` is met by this checkout, not by an index.
    uv = find_uv()
    if uv:
        run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), *map(str, requirements)])
    else:
        run([str(python), "-m", "pip", "install", "--quiet", *map(str, requirements)])


def copy_source(target: Path) -> Path:
    """Copy the project's build inputs to ``target`` and return it."""
    # Building in place would leave build/ and *.egg-info in the checkout others are editing.
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


def run(command: list[str]) -> None:
    """Run an install step; fail the test with its output if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=clean_env())
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}", pytrace=False)


def clean_env() -> dict[str, str]:
    """This environment without what would leak the test's own venv into the fresh one."""
    leaks = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FLASK_APP", "FLASK_DEBUG", "UV_PYTHON")
    env = {name: value for name, value in os.environ.items() if name not in leaks}
    # The app is imported from the checkout; leave no __pycache__ there.
    return env | {"PYTHONDONTWRITEBYTECODE": "1"}


def wait_for_health(server: subprocess.Popen, url: str, log_path: Path) -> None:
    """Poll ``/health`` until it answers 200; fail early if the server exits, or at the deadline."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app exited with {server.returncode}:\n{log_path.read_text()}", pytrace=False)
        try:
            if get(f"{url}/health").status == 200:
                return
        except OSError as exc:  # refused or reset while the server starts
            last_error = exc
        time.sleep(0.05)
    pytest.fail(f"the app was not healthy after {READY_TIMEOUT_S:.0f} s ({last_error}):\n{log_path.read_text()}", pytrace=False)


def stop(server: subprocess.Popen) -> None:
    """Terminate the server, and kill it if it does not exit in time."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def get(url: str) -> Response:
    """GET ``url`` and decode the JSON answer, whatever its status."""
    return call(urllib.request.Request(url))


def post(url: str, body: bytes) -> Response:
    """POST ``body`` as JSON to ``url`` and decode the JSON answer, whatever its status."""
    return call(urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST"))


def call(request: urllib.request.Request) -> Response:
    """Send ``request``; an HTTP error status is an answer here, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            return Response(answer.status, json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, json.loads(error.read()))
