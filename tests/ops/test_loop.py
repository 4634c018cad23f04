"""The loop: drift → retrain → gate → promote → fan-out, its lock, and a pass killed at a step."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.examples import salary
from mldeploy.ops import Loop, load_config
from mldeploy.registry import Registry

from _freshness import shuffled, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # kills and restarts loop processes


def kinds(registry) -> list[str]:
    return [event.kind for event in registry.journal.history("salary")]


def test_drift_found_a_challenger_is_trained_gated_promoted_and_fanned_out(registry, drifted, holdout, tmp_path):
    loop = Loop(registry, load_config(write_config(tmp_path, drifted, holdout)), actor="ana (loop)")
    done = loop.run_once()
    assert done.outcome == "promoted", done.detail
    assert str(done.challenger) == "salary@2" and registry.aliases("salary") == {"production": 2}
    assert done.drift["drifted"] and done.gate["passed"]
    assert [(o.target, o.status) for o in done.outcomes] == [("batch:careers", "delivered")]
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
        assert store.count("salary", version=2) == 30
    assert kinds(registry)[1:] == ["drift", "retrain", "gate-passed", "promote"]
    assert set(done.seconds) == {"drift", "retrain", "gate", "promote", "fan-out"}
    assert [run.status for run in registry.journal.runs("salary")] == ["done"]
    assert registry.journal.acquire_lock("salary", "someone-else", 60)  # released


def test_no_drift_means_no_challenger(registry, holdout, tmp_path):
    same = salary.generate(1500, seed=9)
    done = Loop(registry, load_config(write_config(tmp_path, same, holdout))).run_once()
    assert done.outcome == "no-drift" and not done.drift["drifted"]
    assert [v.version for v in registry.versions("salary")] == [1]
    assert kinds(registry)[1:] == ["drift"]


def test_a_broken_challenger_is_refused_and_nothing_is_promoted(registry, drifted, holdout, tmp_path):
    done = Loop(registry, load_config(write_config(tmp_path, shuffled(drifted), holdout))).run_once()
    assert done.outcome == "refused" and "r2: " in done.detail
    assert registry.aliases("salary") == {"production": 1}
    assert "promote" not in kinds(registry) and kinds(registry)[-1] == "gate-failed"
    assert [run.status for run in registry.journal.runs("salary")] == ["refused"]


def test_a_loop_that_finds_the_lock_held_does_nothing(registry, drifted, holdout, tmp_path):
    registry.journal.acquire_lock("salary", "loop@elsewhere:1:x", 600)
    done = Loop(registry, load_config(write_config(tmp_path, drifted, holdout))).run_once()
    assert done.outcome == "locked" and "loop@elsewhere:1:x holds the loop lock" in done.detail
    assert kinds(registry) == ["alias"] and registry.journal.runs("salary") == []


def loops_at_once(open_registry, config) -> list[str]:
    """Run two loops, each with its own registry connection, started together; return their outcomes."""
    barrier, results = threading.Barrier(2), []

    def one_loop():
        with open_registry() as own:
            barrier.wait()
            results.append(Loop(own, config).run_once().outcome)

    threads = [threading.Thread(target=one_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(500)
    return results


def test_two_loops_at_once_promote_once(registry, drifted, holdout, tmp_path):
    results = loops_at_once(lambda: Registry(root=registry.root), load_config(write_config(tmp_path, drifted, holdout)))
    assert "promoted" in results and len(results) == 2
    assert kinds(registry).count("promote") == 1


@pytest.mark.postgres
def test_two_loops_on_one_postgresql_registry_promote_once(registry, drifted, holdout, tmp_path, postgres_database):
    config = load_config(write_config(tmp_path, drifted, holdout))
    with Registry(postgres_database, root=tmp_path / "pg") as shared:
        shared.set_alias(shared.register(registry.get("salary@1")), "production")
        results = loops_at_once(lambda: Registry(postgres_database, root=tmp_path / "pg"), config)
        assert "promoted" in results and len(results) == 2
        assert kinds(shared).count("promote") == 1 and shared.aliases("salary") == {"production": 2}


KILLER = """
import os, signal, sys
from mldeploy.ops import Loop, load_config
from mldeploy.registry import Registry

def on_step(step, run):
    if step == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)

with Registry(root=sys.argv[1]) as registry:
    Loop(registry, load_config(sys.argv[2]), on_step=on_step).run_once()
"""


def run_until_killed(registry, config: Path, step: str) -> None:
    args = [sys.executable, "-c", KILLER, str(registry.root), str(config), step]
    done = subprocess.run(args, capture_output=True, text=True, timeout=500)
    assert done.returncode == -9, done.stderr


@pytest.mark.parametrize("step, moved", [("promote", False), ("fan-out", True)])
def test_a_loop_killed_after_its_gate_passed_finishes_the_promotion_when_restarted(registry, drifted, holdout, tmp_path,
                                                                                  step, moved):
    config = write_config(tmp_path, drifted, holdout)
    run_until_killed(registry, config, step)
    assert registry.aliases("salary") == {"production": 2 if moved else 1}
    assert [(run.step, run.status) for run in registry.journal.runs("salary")] == [(step, "running")]
    done = Loop(registry, load_config(config)).run_once()  # the dead holder's lock is taken at once
    assert done.outcome == "resumed" and str(done.challenger) == "salary@2"
    assert [(o.target, o.status) for o in done.outcomes] == [("batch:careers", "delivered")]
    assert kinds(registry).count("promote") == 1 and "loop-resumed" in kinds(registry)
    assert [run.status for run in registry.journal.runs("salary")] == ["done"]


def test_a_loop_killed_before_the_gate_cleans_up_and_starts_afresh(registry, drifted, holdout, tmp_path):
    config = write_config(tmp_path, drifted, holdout)
    run_until_killed(registry, config, "gate")
    assert registry.aliases("salary") == {"production": 1}
    done = Loop(registry, load_config(config)).run_once()
    assert done.outcome == "promoted" and str(done.challenger) == "salary@3"
    assert [run.status for run in registry.journal.runs("salary")] == ["abandoned", "done"]
    abandoned = next(e for e in registry.journal.history("salary") if e.kind == "loop-abandoned")
    assert "stopped at step gate" in abandoned.reason and "salary@2 stays unpromoted" in abandoned.reason
    assert kinds(registry).count("promote") == 1
