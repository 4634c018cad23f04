"""The journal: alias moves with their reasons, gate decisions, the loop's lock, passes and deliveries."""

import pytest

from mldeploy.errors import AliasConflictError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def journal_registry(any_registry, small_bundle):
    any_registry.register(small_bundle)
    any_registry.register(small_bundle)
    any_registry.register(small_bundle)
    return any_registry


def test_a_move_and_its_reason_are_recorded_together(journal_registry):
    journal = journal_registry.journal
    event = journal.move_alias("salary", "production", 1, kind="promote", reason="first", actor="ana")
    assert (event.kind, event.version, event.previous_version, event.reason, event.actor) == ("promote", 1, None, "first", "ana")
    assert journal_registry.aliases("salary") == {"production": 1}
    assert journal.move_alias("salary", "production", 1, kind="promote", reason="again") is None  # no move, no event
    kinds = [(e.kind, e.version, e.reason) for e in journal.history("salary")]
    assert kinds == [("promote", 1, "first")]


def test_a_move_expecting_another_version_changes_nothing(journal_registry):
    journal = journal_registry.journal
    journal.move_alias("salary", "production", 1, kind="promote", reason="first")
    with pytest.raises(AliasConflictError, match="points at version 1, not 2"):
        journal.move_alias("salary", "production", 3, kind="promote", reason="late", expected_previous=2)
    assert journal_registry.aliases("salary") == {"production": 1}
    assert [e.reason for e in journal.history("salary")] == ["first"]


def test_history_shows_moves_made_without_ops_once(journal_registry):
    journal = journal_registry.journal
    journal_registry.set_alias("salary@1", "production")
    journal.move_alias("salary", "production", 2, kind="promote", reason="better")
    journal.record("salary", "drift", reason="city drifted", actor="loop", version=2, details={"psi": 0.4})
    found = [(e.kind, e.previous_version, e.version, e.reason) for e in journal.history("salary")]
    assert found == [("alias", None, 1, ""), ("promote", 1, 2, "better"), ("drift", None, 2, "city drifted")]
    assert journal.history("salary")[-1].details == {"psi": 0.4}


def test_gate_decisions_are_kept_per_version_latest_first(journal_registry):
    journal = journal_registry.journal
    assert journal.gate_decision("salary", 2) is None
    journal.record_gate("salary", 2, 1, False, "abc", {"checks": [{"name": "mae"}]}, reason="mae worse")
    journal.record_gate("salary", 2, 1, True, "abc", {"checks": []})
    decision = journal.gate_decision("salary", 2)
    assert (decision.passed, decision.against_version, decision.holdout_fingerprint) == (True, 1, "abc")
    assert [e.kind for e in journal.history("salary")] == ["gate-failed", "gate-passed"]


def test_only_one_holder_gets_the_lock_until_it_is_released_or_replaced(journal_registry):
    journal = journal_registry.journal
    assert journal.acquire_lock("salary", "a", 60)
    assert not journal.acquire_lock("salary", "b", 60)
    assert journal.acquire_lock("salary", "a", 60)  # renewal
    assert journal.lock_holder("salary") == "a"
    assert journal.acquire_lock("salary", "b", 60, replacing="a")  # a is known to be dead
    assert not journal.acquire_lock("salary", "a", 60)
    journal.release_lock("salary", "b")
    assert journal.acquire_lock("salary", "a", 60)


def test_an_expired_lease_can_be_taken(journal_registry):
    journal = journal_registry.journal
    assert journal.acquire_lock("salary", "a", 0.001)
    import time

    time.sleep(0.01)
    assert journal.acquire_lock("salary", "b", 60)


def test_loop_runs_record_their_step_and_status(journal_registry):
    journal = journal_registry.journal
    run = journal.start_run("salary", "production", "loop@x:1:a", 1)
    run = journal.update_run(run, step="gate", challenger_version=2, details={"reason": "r"})
    assert [(r.step, r.status, r.challenger_version, r.details) for r in journal.runs("salary", "running")] == \
        [("gate", "running", 2, {"reason": "r"})]
    journal.update_run(run, status="abandoned")
    assert journal.runs("salary", "running") == []
    assert journal.runs("salary")[0].details == {"reason": "r"}


def test_a_failed_delivery_stays_due_and_keeps_what_the_target_held(journal_registry):
    journal = journal_registry.journal
    assert journal.delivery("salary", "production", "batch:x") is None
    done = journal.record_delivery("salary", "production", "batch:x", 1, ok=True, cursor=5)
    assert (done.version, done.is_due, done.cursor) == (1, False, 5)
    failed = journal.record_delivery("salary", "production", "batch:x", 2, ok=False, reason="disk full")
    assert (failed.version, failed.wanted_version, failed.is_due, failed.reason, failed.cursor) == (1, 2, True, "disk full", 5)
    assert journal.delivery("salary", "production", "batch:x") == failed
