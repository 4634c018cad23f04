"""No test reaches PostgreSQL or Kafka without the marker that lets ``-m "not postgres and not kafka"`` leave it out.

The suite itself is collected in a subprocess with services deselected, and every
test left must have no service in its fixture closure and no fixture parameter
naming one. A small suite of its own shows the runtime guard: a test that asks
for a broker by name without its marker fails before the broker starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _markers import SERVICE_FIXTURES, SERVICE_WORDS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # runs pytest's collection of the whole suite

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

REPORTER = textwrap.dedent('''
    import json, os
    from _markers import fixture_params

    def pytest_collection_finish(session):
        selected = [{"id": item.nodeid, "fixtures": sorted(item.fixturenames),
                     "params": {k: str(v) for k, v in fixture_params(item).items()},
                     "markers": sorted({m.name for m in item.iter_markers()})} for item in session.items]
        with open(os.environ["MARKER_REPORT"], "w") as file:
            json.dump(selected, file)
''')


def _pytest(args: list[str], cwd: Path, report: Path | None = None, plugins: Path | None = None) -> subprocess.CompletedProcess:
    path = os.pathsep.join(str(p) for p in (plugins, TESTS, REPO / "src") if p)
    env = {**os.environ, "PYTHONPATH": path, "MARKER_REPORT": str(report or ""), "PYTEST_ADDOPTS": ""}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=150)


def _collected(tmp_path: Path, expression: str) -> list[dict]:
    (tmp_path / "marker_report.py").write_text(REPORTER)
    report = tmp_path / "report.json"
    done = _pytest(["--collect-only", "-q", "-p", "marker_report", "-m", expression, str(TESTS)], REPO, report, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(report.read_text())


def test_no_test_left_by_the_service_deselection_uses_a_service(tmp_path):
    selected = _collected(tmp_path, "not postgres and not kafka")
    ids = {test["id"] for test in selected}
    using = [(test["id"], fixture) for test in selected for fixture in test["fixtures"] if fixture in SERVICE_FIXTURES]
    naming = [(test["id"], value) for test in selected for value in test["params"].values()
              if any(word in SERVICE_WORDS for word in value.lower().replace("-", " ").replace("_", " ").split())]
    assert using == [] and naming == []
    # The cases the issue found unmarked, and their local twins that must stay in the fast tier:
    assert "tests/contract/test_contract.py::test_no_rows_give_no_predictions[stream-local]" in ids
    assert "tests/contract/test_contract.py::test_no_rows_give_no_predictions[batch-sqlite]" in ids
    assert not {"tests/contract/test_contract.py::test_no_rows_give_no_predictions[stream-kafka]",
                "tests/contract/test_contract.py::test_no_rows_give_no_predictions[batch-postgres]"} & ids


def test_service_tests_are_selected_by_their_markers(tmp_path):
    selected = _collected(tmp_path, "kafka")
    assert selected, "no test is marked kafka"
    assert all("kafka" in test["markers"] for test in selected)
    assert "tests/contract/test_contract.py::test_no_rows_give_no_predictions[stream-kafka]" in {t["id"] for t in selected}


GUARDED_SUITE = {
    "conftest.py": '''
        import pytest
        from _markers import _services_used_are_marked, pytest_collection_modifyitems, pytest_fixture_setup

        @pytest.fixture(scope="session")
        def kafka_broker(tmp_path_factory):
            (tmp_path_factory.getbasetemp().parent / "broker-started").write_text("yes")
            return "127.0.0.1:9"

        @pytest.fixture(params=["local", "kafka"])
        def transport(request):
            return request.param if request.param == "local" else request.getfixturevalue("kafka_broker")
    ''',
    "test_guarded.py": '''
        def test_by_argument(kafka_broker):
            pass

        def test_by_parameter(transport):
            pass

        def test_by_name_in_the_body(request):
            request.getfixturevalue("kafka_broker")
    ''',
    "pytest.ini": '''
        [pytest]
        markers =
            kafka: a broker
            postgres: a database
            slow: a venv
        addopts = --strict-markers
    ''',
}


def test_a_test_that_asks_for_a_service_by_name_without_its_marker_fails_before_it_starts(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    for name, text in GUARDED_SUITE.items():
        (suite / name).write_text(textwrap.dedent(text))
    done = _pytest(["-m", "not kafka", "-rA", f"--basetemp={tmp_path / 'base'}", "-q"], suite)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "2 deselected" in out and "1 passed" in out and "1 failed" in out, out
    assert "FAILED test_guarded.py::test_by_name_in_the_body" in out
    assert "uses kafka_broker without the `kafka` marker" in out
    assert not (tmp_path / "broker-started").exists()
