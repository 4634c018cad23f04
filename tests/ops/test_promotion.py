"""Promote and rollback: one alias-move path, gated unless forced, fanned out to every target."""

import pandas as pd
import pytest

from _freshness import shuffled
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError
from mldeploy.ops import gate, history, promote, retrain, rollback
from mldeploy.ops.config import BatchTarget, EmbeddedTarget

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def targets(tmp_path, holdout):
    people = tmp_path / "people.parquet"
    holdout.drop(columns="salary").head(40).assign(person=range(40)).to_parquet(people)
    return (BatchTarget("nightly", people, "person", f"sqlite:///{tmp_path / 'predictions.db'}"),
            EmbeddedTarget(tmp_path / "wheels", ("careers-site",)))


def test_a_version_never_gated_is_refused_unless_forced_with_a_reason(registry, drifted):
    made = retrain(registry, "salary:production", drifted, "salary")
    with pytest.raises(ConfigError, match="salary@2 has never been gated"):
        promote(registry, made.challenger, "production", reason="trust me")
    assert registry.aliases("salary") == {"production": 1}
    done = promote(registry, made.challenger, "production", reason="hotfix", actor="ana", force=True)
    assert (done.kind, done.previous_version, done.version) == ("forced-promote", 1, 2)
    event = history(registry, "salary")[-1]
    assert (event.kind, event.reason, event.actor, event.details["forced"]) == ("forced-promote", "hotfix", "ana", True)


def test_a_version_that_failed_its_gate_is_refused(registry, drifted, holdout):
    bad = retrain(registry, "salary:production", shuffled(drifted), "salary").challenger
    assert not gate(registry, bad, "salary:production", holdout, "salary").passed
    with pytest.raises(ConfigError, match="failed its last gate"):
        promote(registry, bad, "production", reason="why not")
    assert registry.aliases("salary") == {"production": 1}


def test_a_promotion_moves_the_alias_and_fans_out_then_rollback_takes_the_same_path(gated, targets, tmp_path):
    registry, challenger = gated
    done = promote(registry, challenger, "production", reason="Q3 data", actor="ana", targets=targets)
    assert (done.kind, done.previous_version, done.version) == ("promote", 1, 2)
    assert [(o.target.split(":")[0], o.status) for o in done.outcomes] == [("batch", "delivered"), ("embedded", "delivered")]
    assert "rebuild careers-site" in done.outcomes[1].detail
    assert (tmp_path / "wheels" / "salary_model-2-py3-none-any.whl").exists()
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
        assert store.count("salary", version=2) == 40
    back = rollback(registry, "salary", "production", reason="complaints", actor="bo", targets=targets)
    assert (back.kind, back.previous_version, back.version) == ("rollback", 2, 1)
    assert registry.aliases("salary") == {"production": 1}
    assert (tmp_path / "wheels" / "salary_model-1-py3-none-any.whl").exists()
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
        assert store.count("salary", version=1) == 40
    moves = [(e.kind, e.previous_version, e.version, e.reason, e.actor) for e in history(registry, "salary")
             if e.kind in ("promote", "rollback")]
    assert moves == [("promote", 1, 2, "Q3 data", "ana"), ("rollback", 2, 1, "complaints", "bo")]


def test_a_failing_target_is_reported_and_retried_while_the_alias_moves_once(gated, targets, tmp_path):
    registry, challenger = gated
    broken = BatchTarget("broken", tmp_path / "later.parquet", "person", f"sqlite:///{tmp_path / 'broken.db'}")
    done = promote(registry, challenger, "production", reason="Q3", targets=(*targets, broken))
    failed = done.failed_targets
    assert [o.target for o in failed] == ["batch:broken"] and "later.parquet does not exist" in failed[0].detail
    assert registry.aliases("salary") == {"production": 2}
    pd.read_parquet(targets[0].input).to_parquet(tmp_path / "later.parquet")  # the target is fixed
    from mldeploy.ops.fanout import fan_out

    again = fan_out(registry, "salary", "production", (*targets, broken))
    assert [(o.target, o.status) for o in again] == [
        ("batch:nightly", "already"), (f"embedded:{tmp_path / 'wheels'}", "already"), ("batch:broken", "delivered")]
    assert [e.kind for e in history(registry, "salary")].count("promote") == 1
    failure = next(e for e in history(registry, "salary") if e.kind == "fan-out-failed")
    assert failure.reason.startswith("batch:broken: ConfigError") and failure.version == 2


def test_rollback_without_an_earlier_version_is_refused(registry):
    with pytest.raises(ConfigError, match="salary:production has no earlier version to roll back to"):
        rollback(registry, "salary", "production", reason="oops")
    with pytest.raises(ConfigError, match="give a --reason"):
        rollback(registry, "salary", "production", reason=" ")
