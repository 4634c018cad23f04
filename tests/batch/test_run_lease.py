"""One writer per batch run: a resume refuses a run another process is writing, and takes it the moment that one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mldeploy.batch import run_batch
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import RunBusyError

from _batch_inputs import people

pytestmark = pytest.mark.timeout(120)

SRC = Path(__file__).resolve().parents[2] / "src"
_HOLDER = """
import sys
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.batch.input_tables import open_input
url, path = sys.argv[1], sys.argv[2]
with PredictionStore(url) as store:
    run = store.start_run("salary", 1, "local", path, open_input(path).fingerprint(), "employee_id", 100)
    with store.hold_run(run.run_id):
        print(run.run_id, flush=True)
        sys.stdin.read()  # hold until the test closes stdin or kills this process
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_database")


def _holder(url: str, path: Path) -> tuple[subprocess.Popen, str]:
    """Start a process that begins a run over ``path`` and holds its lease; return it and the run's id."""
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, url, str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    run_id = process.stdout.readline().strip()
    assert run_id, process.stderr.read()
    return process, run_id


def test_a_resume_refuses_a_run_another_process_writes_and_takes_it_once_that_one_dies(salary_registry, tmp_path,
                                                                                      store_url) -> None:
    path = tmp_path / "people.parquet"
    people(100).to_parquet(path)
    holder, run_id = _holder(store_url, path)
    try:
        with PredictionStore(store_url) as store:
            with pytest.raises(RunBusyError, match=f"run {run_id} .* is being written by another process"):
                with store.hold_run(run_id):
                    pass
            with pytest.raises(RunBusyError, match="being written by another process"):
                run_batch("salary@1", path, "employee_id", store_url, registry=salary_registry, resume=True)
            assert store.run(run_id).status == "running"  # the refused resume changed nothing
            with store.hold_run("0" * 32):  # another run's lease is free
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # as a crash would: no cleanup runs
        holder.wait(timeout=30)
    done = _resume_once_free(lambda: run_batch("salary@1", path, "employee_id", store_url, registry=salary_registry,
                                               resume=True))
    assert (done.run_id, done.status, done.rows_written) == (run_id, "finished", 100)


def _resume_once_free(resume, timeout_s: float = 20.0):
    """PostgreSQL drops a dead client's locks when its server process notices the closed socket: soon, not at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return resume()
        except RunBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_one_process_cannot_hold_a_run_twice(store_url) -> None:
    with PredictionStore(store_url) as store:
        run = store.start_run("salary", 1, "local", "x", "f" * 64, "employee_id", 1)
        with store.hold_run(run.run_id):
            with pytest.raises(RunBusyError):
                with store.hold_run(run.run_id):
                    pass
        with store.hold_run(run.run_id):  # released at the end of the block
            pass


def test_ending_one_lease_keeps_the_others_this_process_holds(tmp_path, store_url) -> None:
    # POSIX locks go when a process closes any descriptor of their file: one lease's end must not end another's
    with PredictionStore(store_url) as store:
        first, second = (store.start_run("salary", 1, "local", "x", "f" * 64, "employee_id", 1) for _ in range(2))
        with store.hold_run(second.run_id):
            with store.hold_run(first.run_id):
                pass
            with pytest.raises(RunBusyError):
                with store.hold_run(second.run_id):  # a refused attempt closes nothing either
                    pass
            env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
            code = ("import sys\nfrom mldeploy.batch.prediction_store import PredictionStore\n"
                    "from mldeploy.errors import RunBusyError\n"
                    "with PredictionStore(sys.argv[1]) as store:\n"
                    "    try:\n        store.hold_run(sys.argv[2]).__enter__()\n    except RunBusyError:\n        print('busy')")
            other = subprocess.run([sys.executable, "-c", code, store_url, second.run_id], capture_output=True,
                                   text=True, env=env, timeout=60)
            assert other.stdout.strip() == "busy", other.stderr


def test_a_lock_file_that_cannot_be_opened_is_named(tmp_path) -> None:
    from mldeploy.batch.run_lease import file_lease
    from mldeploy.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot open .*p\.db-runs\.lock, where batch runs take their leases"):
        with file_lease(tmp_path / "absent" / "p.db", "SQLite file p.db", "0" * 32):
            pass
