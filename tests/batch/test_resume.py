"""A run killed with SIGKILL resumes with --resume: no key missing, none doubled, same predictions."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from mldeploy.batch.prediction_store import PredictionStore

from _batch_inputs import people

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # kills and restarts a batch process

SRC = Path(__file__).resolve().parents[2] / "src"
ROWS = 20_000


def _command(registry_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", str(registry_root),
            "batch", "salary@1", "--key", "employee_id", "--quiet", *args]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def _batch(registry_root: Path, *args: str) -> subprocess.Popen:
    """Start a batch process (the one to kill)."""
    return subprocess.Popen(_command(registry_root, *args), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _kill_mid_run(process: subprocess.Popen, store: PredictionStore, timeout_s: float = 120) -> None:
    """SIGKILL the process once some chunks (not all) are committed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        runs = store.runs() if _has_runs(store) else []
        if runs and 0 < runs[-1].rows_done < ROWS // 2:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return
        time.sleep(0.005)
    out, err = process.communicate(timeout=30)
    pytest.fail(f"the run ended (code {process.returncode}) before it could be killed mid-way: {out} {err}")


def _has_runs(store: PredictionStore) -> bool:
    try:
        return bool(store.runs())
    except Exception:  # the child may still be creating the tables
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """A prediction database of each kind: a sqlite file, or a fresh database on the test PostgreSQL server."""
    return f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_database")


def test_sigkill_then_resume_scores_every_key_once(salary_registry, tmp_path, store_url):
    frame = people(ROWS)
    frame.to_parquet(tmp_path / "people.parquet", row_group_size=2_000)
    url = store_url
    args = ["--input", str(tmp_path / "people.parquet"), "--to", url, "--chunk-rows", "200"]
    with PredictionStore(url) as store:
        _kill_mid_run(_batch(salary_registry.root, *args), store)
        interrupted = store.runs()[-1]
        # a chunk may commit between the last look and the kill
        assert interrupted.status == "running" and 0 < interrupted.rows_done < ROWS
        # what the runs table says is exactly what was committed
        assert store.count("salary", 1) + interrupted.rows_rejected == interrupted.rows_done
    # one resuming process (a second one, started while this one runs, is refused: see test_run_lease.py)
    done = subprocess.run(_command(salary_registry.root, *args, "--resume"), capture_output=True, text=True,
                          timeout=150, env=_env())
    assert done.returncode == 0, done.stderr
    with PredictionStore(url) as store:
        runs = store.runs()
        assert len(runs) == 1 and runs[0].run_id == interrupted.run_id
        assert (runs[0].status, runs[0].rows_done, runs[0].rows_written) == ("finished", ROWS, ROWS)
    engine = create_engine(url)
    with engine.connect() as conn:
        keys = [row[0] for row in conn.execute(text("SELECT key FROM predictions WHERE model_name = 'salary'"))]
        sample = conn.execute(text("SELECT key, value FROM predictions WHERE key IN ('10000', '69999')")).all()
    engine.dispose()
    assert len(keys) == len(set(keys)) == ROWS
    assert set(keys) == {str(k) for k in frame["employee_id"]}
    pipeline = salary_registry.get("salary@1").load_pipeline()
    rows = frame.set_index(frame["employee_id"].astype(str)).loc[[k for k, _ in sample]]
    np.testing.assert_allclose([v for _, v in sample], pipeline.predict(rows.drop(columns="employee_id")), rtol=1e-9)
