"""retrain, gate, promote, rollback and history from the command line, as a user types them."""

import json
import shutil

import numpy as np
import pytest

from mldeploy.examples import salary
from mldeploy.ops.registering import train_and_register
from mldeploy.registry import Registry

from _cli import run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # runs the freshness loop's commands end to end


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A registry with salary@1 at production, new drifted data, a shuffled copy and a holdout."""
    root = tmp_path_factory.mktemp("ops-cli")
    with Registry(root=root / "registry") as registry:
        train_and_register(salary.generate(1200, seed=1), "salary", registry=registry, alias="production",
                           factory=lambda: salary.default_pipeline(max_iter=25))
    new = salary.generate(1200, seed=2, drift=0.3)
    new.to_parquet(root / "new.parquet")
    new.assign(salary=np.random.default_rng(0).permutation(new["salary"].to_numpy())).to_parquet(root / "shuffled.parquet")
    salary.generate(500, seed=3, drift=0.3).to_parquet(root / "holdout.parquet")
    return root


@pytest.fixture
def place(files, tmp_path):
    shutil.copytree(files / "registry", tmp_path / "registry")
    return tmp_path / "registry", files


def test_retrain_gate_promote_history_and_rollback(capsys, place, monkeypatch):
    registry, files = place
    monkeypatch.setenv("USER", "ana")
    monkeypatch.setenv("LOGNAME", "ana")
    reg = ["--registry", str(registry)]
    code, out, _ = run(capsys, *reg, "retrain", "salary", "--data", str(files / "new.parquet"), "--target", "salary")
    assert code == 0 and "registered salary@2 (parent salary@1)" in out
    code, out, err = run(capsys, *reg, "gate", "salary@2", "--against", "salary:production", "--holdout",
                         str(files / "holdout.parquet"), "--target", "salary", "--slice", "remote:100")
    assert code == 0, err
    for heading in ("check", "challenger", "champion", "difference", "tolerance", "result", "mae", "edge", "schema"):
        assert heading in out
    assert "passed: salary@2 passed all" in out
    code, out, _ = run(capsys, *reg, "promote", "salary@2", "--to", "production", "--reason", "Q3 data")
    assert code == 0 and "promote: salary:production 1 → 2 (Q3 data)" in out
    code, out, _ = run(capsys, *reg, "rollback", "salary", "--alias", "production", "--reason", "complaints")
    assert code == 0 and "rollback: salary:production 2 → 1 (complaints)" in out
    code, out, _ = run(capsys, *reg, "history", "salary", "--json")
    events = [(e["kind"], e["previous_version"], e["version"], e["reason"], e["actor"]) for e in json.loads(out)]
    assert events[-2:] == [("promote", 1, 2, "Q3 data", "ana"), ("rollback", 2, 1, "complaints", "ana")]
    assert [e[0] for e in events[:3]] == ["alias", "retrain", "gate-passed"]
    code, out, _ = run(capsys, *reg, "history", "salary")
    assert code == 0 and "complaints" in out and "when (UTC)" in out


def test_a_challenger_on_shuffled_targets_is_refused_with_exit_1_naming_the_metric(capsys, place):
    registry, files = place
    reg = ["--registry", str(registry)]
    assert run(capsys, *reg, "retrain", "salary", "--data", str(files / "shuffled.parquet"), "--target", "salary")[0] == 0
    code, out, _ = run(capsys, *reg, "gate", "salary@2", "--against", "salary:production", "--holdout",
                       str(files / "holdout.parquet"), "--target", "salary", "--json")
    decision = json.loads(out)
    assert code == 1 and not decision["passed"] and "r2: " in decision["reason"]
    code, _, err = run(capsys, *reg, "promote", "salary@2", "--to", "production", "--reason", "anyway")
    assert code == 2 and "failed its last gate" in err
    code, out, _ = run(capsys, *reg, "promote", "salary@2", "--to", "production", "--reason", "anyway", "--force")
    assert code == 0 and "forced-promote: salary:production 1 → 2 (anyway)" in out


def test_loop_once_promotes_a_drifted_models_challenger(capsys, place):
    registry, files = place
    config = registry.parent / "ops.toml"
    config.write_text(f'[model]\nname = "salary"\ntarget = "salary"\n[data]\ncurrent = "{files / "new.parquet"}"\n'
                      f'holdout = "{files / "holdout.parquet"}"\n')
    code, out, err = run(capsys, "--registry", str(registry), "loop", "salary", "--config", str(config), "--once", "--json")
    done = json.loads(out)
    assert code == 0, err
    assert (done["outcome"], done["challenger"], done["drift"]["drifted"]) == ("promoted", "salary@2", True)
    code, out, _ = run(capsys, "--registry", str(registry), "history", "salary", "--json")
    assert [e["kind"] for e in json.loads(out)][1:] == ["drift", "retrain", "gate-passed", "promote"]


def test_loop_on_a_schedule_promotes_then_stops_on_sigterm(place):
    import os
    import subprocess
    import sys
    import time

    registry, files = place
    config = registry.parent / "ops.toml"
    config.write_text(f'[model]\nname = "salary"\ntarget = "salary"\n[data]\ncurrent = "{files / "new.parquet"}"\n'
                      f'holdout = "{files / "holdout.parquet"}"\n[loop]\ninterval_s = 1\n')
    command = [sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", str(registry), "loop", "salary",
               "--config", str(config)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "COLUMNS": "300", "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and child.poll() is None:
            with Registry(root=registry) as opened:
                if opened.aliases("salary") == {"production": 2}:
                    break
            time.sleep(0.5)
    finally:
        child.terminate()
        out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "looping over salary:production every 1 s" in out and "promoted: promoted salary@2 over salary@1" in out
