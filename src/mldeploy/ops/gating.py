"""Gate a challenger against the champion on one holdout, and record the decision on the challenger's version.

A challenger passes when every check passes: each metric (not worse than
the champion's beyond its tolerance, or reaching its absolute threshold),
each slice, schema compatibility, the one-row latency budget and finite
answers on edge rows. The decision, its figures and the holdout's
fingerprint go to the registry, where ``promote`` looks for them. Example::

    result = gate(registry, "salary@4", "salary:production", pd.read_parquet("holdout.parquet"), "salary")
    result.passed, result.reason
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mldeploy.bundle import BundleRef
from mldeploy.bundle.digest import frame_fingerprint
from mldeploy.errors import ConfigError
from mldeploy.ops.gate_checks import GateCheck, Predictions, edge_check, latency_check, metric_checks, schema_check, slice_checks
from mldeploy.ops.gate_rules import GateConfig

__all__ = ["GateResult", "check_holdout", "gate"]


@dataclass(frozen=True)
class GateResult:
    """A gate's decision on a challenger: every check, and the holdout it was measured on."""

    challenger: BundleRef
    champion: BundleRef
    checks: tuple[GateCheck, ...]
    holdout_fingerprint: str
    holdout_rows: int

    @property
    def passed(self) -> bool:
        """Tell whether every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    @property
    def reason(self) -> str:
        """One line: why the challenger was refused, naming each failed check, or that it passed."""
        if self.passed:
            return f"{self.challenger} passed all {len(self.checks)} checks against {self.champion}"
        named = "; ".join(f"{c.name}: {c.detail or 'failed'}" for c in self.failures)
        return f"{self.challenger} refused against {self.champion}: {named}"

    def to_dict(self) -> dict:
        """Return the decision as JSON-ready values."""
        return {"challenger": str(self.challenger), "champion": str(self.champion), "passed": self.passed,
                "reason": self.reason, "holdout_fingerprint": self.holdout_fingerprint,
                "holdout_rows": self.holdout_rows, "checks": [check.to_dict() for check in self.checks]}


def gate(registry, challenger: str | BundleRef, against: str | BundleRef, holdout: pd.DataFrame, target: str,
         config: GateConfig | None = None, trusted=(), actor: str = "", record: bool = True) -> GateResult:
    """Run every check of ``config`` on ``challenger`` vs ``against`` and record the decision (unless not ``record``).

    Raises ConfigError for input that cannot be gated (a holdout without the
    target or a field, a slice column not in it, a metric of the other task);
    nothing is recorded then.
    """
    from mldeploy.serving import load

    config = config or GateConfig()
    challenger_ref, champion_ref = registry.resolve(challenger), registry.resolve(against)
    new, old = registry.get(challenger_ref), registry.get(champion_ref)
    task = new.manifest.task
    rules = config.rules_for(task)
    check_holdout(holdout, target, new.schema.names, [rule.column for rule in config.slices])
    labels = holdout[target].to_numpy()
    new_pipeline, old_pipeline = new.load_pipeline(trusted=trusted), old.load_pipeline(trusted=trusted)
    ours = Predictions.of(new_pipeline, holdout[new.schema.names], task)
    theirs = Predictions.of(old_pipeline, holdout[old.schema.names], task)
    checks = metric_checks(rules, labels, ours, theirs)
    for rule in config.slices:
        checks += slice_checks(rule, rules[0], holdout[rule.column], labels, ours, theirs)
    checks.append(schema_check(old.schema, new.schema))
    served = load(challenger_ref, registry=registry, trusted=trusted)
    checks.append(latency_check(served, holdout[new.schema.names].head(1), config.latency_budget_ms, config.latency_repeats))
    if config.check_edge_rows:
        checks.append(edge_check(served, new.sample()))
    result = GateResult(challenger_ref, champion_ref, tuple(checks), frame_fingerprint(holdout), len(holdout))
    if record:
        registry.journal.record_gate(challenger_ref.name, challenger_ref.version, champion_ref.version, result.passed,
                                     result.holdout_fingerprint, {"checks": [c.to_dict() for c in checks]}, actor=actor,
                                     reason=result.reason)
    return result


def check_holdout(holdout: pd.DataFrame, target: str, fields: list[str], slice_columns: list[str]) -> None:
    """Refuse a holdout the gate cannot measure on, naming the missing column or the empty target rows."""
    if target not in holdout.columns:
        raise ConfigError(f'the holdout has no target column "{target}"; a gate compares predictions with it '
                          f"(columns: {', '.join(map(str, holdout.columns[:20]))})")
    missing = [name for name in fields if name not in holdout.columns]
    if missing:
        raise ConfigError(f"the holdout lacks the model's input field(s) {', '.join(map(repr, missing))}")
    unknown = [name for name in slice_columns if name not in holdout.columns]
    if unknown:
        raise ConfigError(f"slice column(s) {', '.join(map(repr, unknown))} not in the holdout; "
                          f"columns are: {', '.join(map(str, holdout.columns[:20]))}")
    if len(holdout) < 2:
        raise ConfigError(f"the holdout has {len(holdout)} row(s); a gate needs at least 2")
    empty = np.flatnonzero(holdout[target].isna().to_numpy())
    if len(empty):
        raise ConfigError(f'the holdout\'s target "{target}" is empty in {len(empty)} row(s) (first: row {empty[0]}); '
                          "drop or fill those rows")
