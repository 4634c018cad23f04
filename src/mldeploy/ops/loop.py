"""The freshness loop: drift → retrain → gate → promote → fan-out, once or on a schedule.

Each pass is a row in the registry's database that records the step it
reached, so a loop killed at any step and started again either finishes
the promotion it had decided (a passing gate, the alias maybe moved
already) or marks the pass abandoned and starts afresh; the challenger of
an abandoned pass stays a registered, unaliased version. A lock row keeps
two loops from working on one model at once, and ``promote`` itself
refuses a version without a passing gate, so the loop never promotes an
ungated version nor one twice. Example::

    loop = Loop(registry, load_config("ops.toml"))
    done = loop.run_once()
    done.outcome, done.challenger
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mldeploy.bundle import BundleRef
from mldeploy.errors import MldeployError, shorten
from mldeploy.ops.audit import record_drift
from mldeploy.ops.config import OpsConfig
from mldeploy.ops.fanout import Outcome, fan_out
from mldeploy.ops.gating import gate
from mldeploy.ops.loop_lock import LoopLock, holder_name
from mldeploy.ops.promotion import promote
from mldeploy.ops.retraining import retrain

__all__ = ["Loop", "LoopPass", "STEPS"]

STEPS = ("drift", "retrain", "gate", "promote", "fan-out")
"""The steps of a pass, in order; ``on_step`` is called with each before it starts."""


@dataclass(frozen=True)
class LoopPass:
    """What one pass of the loop did and why.

    ``outcome`` is ``no-drift``, ``refused`` (the gate said no), ``promoted``,
    ``resumed`` (a killed pass's promotion finished), ``locked`` (another
    loop works on the model) or ``failed`` (a step raised; ``detail`` says why).
    """

    name: str
    alias: str
    outcome: str
    detail: str = ""
    run_id: int | None = None
    champion: BundleRef | None = None
    challenger: BundleRef | None = None
    drift: dict | None = None
    gate: dict | None = None
    outcomes: tuple[Outcome, ...] = ()
    seconds: dict = field(default_factory=dict)
    """Time per step, in seconds."""

    def to_dict(self) -> dict:
        """Return the pass as JSON-ready values."""
        return {**self.__dict__, "champion": str(self.champion) if self.champion else None,
                "challenger": str(self.challenger) if self.challenger else None,
                "outcomes": [outcome.to_dict() for outcome in self.outcomes]}


class Loop:
    """Keep ``config.model``'s alias fresh; ``drift_check`` defaults to :func:`mldeploy.ops.drift.drift`."""

    def __init__(self, registry, config: OpsConfig, actor: str | None = None, drift_check: Callable | None = None,
                 trusted=(), public_key=None, on_step: Callable[[str, object], None] | None = None):
        self.registry, self.config = registry, config
        self.name, self.alias = config.model.name, config.model.alias
        self.holder = holder_name()
        self.actor = actor or self.holder
        self._drift_check = drift_check
        self.trusted, self.public_key = tuple(trusted), public_key
        self._on_step = on_step or (lambda _step, _run: None)
        self._lock = LoopLock(registry.journal, self.name, self.holder, config.loop.lock_lease_s)

    def run_once(self) -> LoopPass:
        """Run one pass (after finishing or cleaning up a killed one) and return what it did."""
        if not self._lock.acquire():
            held = self.registry.journal.lock_holder(self.name)
            return LoopPass(self.name, self.alias, "locked", f"{held} holds the loop lock on {self.name}")
        try:
            return self._recover() or self._pass()
        finally:
            self._lock.release()

    def run(self, stop: threading.Event, on_pass: Callable[[LoopPass], None] | None = None) -> None:
        """Run a pass every ``config.loop.interval_s`` seconds until ``stop`` is set.

        A pass that fails (the registry or a file unreachable) is reported through
        ``on_pass`` and the loop carries on at the next interval.
        """
        while not stop.is_set():
            try:
                done = self.run_once()
            except MldeployError as exc:
                done = LoopPass(self.name, self.alias, "failed", str(exc))
            (on_pass or (lambda _done: None))(done)
            stop.wait(self.config.loop.interval_s)

    # -- a killed pass -------------------------------------------------------

    def _recover(self) -> LoopPass | None:
        journal, resumed = self.registry.journal, None
        for run in journal.runs(self.name, status="running"):
            if run.step in ("promote", "fan-out") and run.challenger_version is not None:
                resumed = self._resume(run)
            else:
                note = f"a loop stopped at step {run.step}" + (
                    f"; its challenger {self.name}@{run.challenger_version} stays unpromoted" if run.challenger_version else "")
                journal.update_run(run, status="abandoned", details={"abandoned": note})
                journal.record(self.name, "loop-abandoned", reason=note, actor=self.actor, version=run.challenger_version)
        return resumed

    def _resume(self, run) -> LoopPass:
        journal = self.registry.journal
        challenger = BundleRef(self.name, run.challenger_version)
        journal.record(self.name, "loop-resumed", reason=f"finishing the promotion of {challenger} a stopped loop decided",
                       actor=self.actor, version=run.challenger_version)
        try:
            self._on_step("promote", run)
            promote(self.registry, challenger, self.alias, run.details.get("reason", "loop: gate passed"), actor=self.actor,
                    expected_previous=run.champion_version, trusted=self.trusted, public_key=self.public_key)
            run = journal.update_run(run, step="fan-out")
            self._on_step("fan-out", run)
            outcomes = fan_out(self.registry, self.name, self.alias, self.config.targets.all, self.trusted, self.public_key)
        except MldeployError as exc:
            journal.update_run(run, status="abandoned", details={"abandoned": str(exc)})
            return LoopPass(self.name, self.alias, "failed", str(exc), run.id, challenger=challenger)
        journal.update_run(run, status="done")
        return LoopPass(self.name, self.alias, "resumed", f"promoted {challenger} (resumed)", run.id,
                        BundleRef(self.name, run.champion_version) if run.champion_version else None, challenger,
                        outcomes=outcomes)

    # -- a fresh pass --------------------------------------------------------

    def _pass(self) -> LoopPass:
        from mldeploy.tables import read_table

        journal, config = self.registry.journal, self.config
        champion = self.registry.resolve(f"{self.name}:{self.alias}")
        run = journal.start_run(self.name, self.alias, self.holder, champion.version)
        seconds: dict[str, float] = {}
        clock = {"step": None, "at": time.perf_counter()}

        def close_step() -> None:
            if clock["step"] is not None:
                seconds[clock["step"]] = time.perf_counter() - clock["at"]

        def step(name: str) -> None:
            nonlocal run
            close_step()
            self._lock.renew()  # a loop that lost its lock stops here, before it could promote
            run = journal.update_run(run, step=name)
            self._on_step(name, run)
            clock.update(step=name, at=time.perf_counter())

        def ended(outcome: str, detail: str, **found) -> LoopPass:
            close_step()
            journal.update_run(run, status="refused" if outcome == "refused" else "done", details={"outcome": detail})
            return LoopPass(self.name, self.alias, outcome, detail, run.id, champion, seconds=seconds, **found)

        try:
            step("drift")
            current = read_table(config.data.current)
            report = self._drift(champion, current)
            found = report.to_dict()
            record_drift(self.registry, report, self.actor)
            if not report.drifted:
                outcomes = fan_out(self.registry, self.name, self.alias, config.targets.all, self.trusted, self.public_key)
                return ended("no-drift", report.summary(), drift=found, outcomes=outcomes)
            step("retrain")
            made = retrain(self.registry, champion, current, config.model.target, test_size=config.loop.test_size,
                           seed=config.loop.seed, trusted=self.trusted, actor=self.actor)
            run = journal.update_run(run, challenger_version=made.challenger.version)
            step("gate")
            decided = gate(self.registry, made.challenger, champion, read_table(config.data.holdout), config.model.target,
                           config.gate, trusted=self.trusted, actor=self.actor)
            if not decided.passed:
                return ended("refused", decided.reason, drift=found, challenger=made.challenger, gate=decided.to_dict())
            run = journal.update_run(run, details={"reason": f"loop: drift found, {decided.reason}"})
            step("promote")
            promote(self.registry, made.challenger, self.alias, run.details["reason"], actor=self.actor,
                    expected_previous=champion.version, trusted=self.trusted, public_key=self.public_key)
            step("fan-out")
            outcomes = fan_out(self.registry, self.name, self.alias, config.targets.all, self.trusted, self.public_key)
            return ended("promoted", f"promoted {made.challenger} over {champion}", drift=found,
                         challenger=made.challenger, gate=decided.to_dict(), outcomes=outcomes)
        except MldeployError as exc:
            journal.update_run(run, status="failed", details={"error": shorten(exc, 500)})
            journal.record(self.name, "loop-failed", reason=f"{run.step}: {shorten(exc, 300)}", actor=self.actor)
            raise

    def _drift(self, champion: BundleRef, current):
        check = self._drift_check
        if check is None:
            from mldeploy.ops.drift import drift as check
        return check(str(champion), current, thresholds=self.config.drift or None, registry=self.registry,
                     trusted=self.trusted)
