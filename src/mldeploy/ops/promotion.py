"""Move an alias to a gated version (promote) or back to the version before (rollback), with a reason.

Both take one path: the alias moves and its history event is written in one
transaction, then the configured targets receive the new version (see
``fanout.py``). ``promote`` refuses a version whose last gate did not pass,
unless ``force``, which history records with the reason. Example::

    promote(registry, "salary@4", "production", reason="Q3 data", actor="ana")
    rollback(registry, "salary", "production", reason="complaints", actor="ana")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mldeploy.bundle import BundleRef
from mldeploy.errors import ConfigError
from mldeploy.ops.fanout import Outcome, fan_out

__all__ = ["Promotion", "history", "promote", "rollback"]


@dataclass(frozen=True)
class Promotion:
    """An alias move made by ``promote`` or ``rollback`` and what each target did with it."""

    name: str
    alias: str
    version: int
    previous_version: int | None
    kind: str
    """``promote``, ``forced-promote`` or ``rollback``; ``unchanged`` when the alias pointed there already."""
    reason: str
    actor: str
    at: datetime | None
    outcomes: tuple[Outcome, ...] = field(default=())

    @property
    def failed_targets(self) -> tuple[Outcome, ...]:
        """The targets that did not receive the version (they are retried on the next run)."""
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)

    def to_dict(self) -> dict:
        """Return the record as JSON-ready values."""
        return {**{k: v for k, v in self.__dict__.items() if k != "outcomes"}, "at": self.at.isoformat() if self.at else None,
                "outcomes": [outcome.to_dict() for outcome in self.outcomes]}


def promote(registry, ref: str | BundleRef, alias: str, reason: str, actor: str = "", force: bool = False,
            targets=(), expected_previous=None, trusted=(), public_key=None) -> Promotion:
    """Point ``alias`` at ``ref`` if its last gate passed (or ``force``), then fan out to ``targets``.

    ``expected_previous`` (a version) makes the move conditional on the alias
    still pointing there, as the loop does. Raises ConfigError for a missing
    reason, an ungated or refused version without ``force``.
    """
    _check_reason(reason)
    resolved = registry.resolve(ref)
    BundleRef.check_alias(alias)
    decision = registry.journal.gate_decision(resolved.name, resolved.version)
    if not force and (decision is None or not decision.passed):
        why = "has never been gated" if decision is None else "failed its last gate"
        raise ConfigError(f"{resolved} {why}; run `mldeploy gate {resolved} --against {resolved.name}:{alias} ...` "
                          "first, or promote with --force and a reason (recorded in history)")
    kind = "promote" if decision is not None and decision.passed else "forced-promote"
    details = {"gate_decision": decision.id if decision else None, "forced": force and kind == "forced-promote"}
    return _move(registry, resolved.name, alias, resolved.version, kind, reason, actor, details, targets,
                 expected_previous, trusted, public_key)


def rollback(registry, name: str, alias: str, reason: str, actor: str = "", targets=(), trusted=(),
             public_key=None) -> Promotion:
    """Point ``alias`` back at the version it pointed at before its current one, through the same fan-out.

    Raises ConfigError when the alias has no earlier version.
    """
    _check_reason(reason)
    current = registry.aliases(name).get(alias)
    moves = [move for move in registry.alias_history(name, alias) if move.version == current]
    previous = moves[-1].previous_version if moves else None
    if current is None or previous is None:
        raise ConfigError(f"{name}:{alias} has no earlier version to roll back to "
                          f"({'it does not exist' if current is None else f'it has pointed at {current} since it was made'})")
    if not any(v.version == previous for v in registry.versions(name)):
        raise ConfigError(f"{name}@{previous}, where {name}:{alias} pointed before, was deleted; promote a version instead")
    return _move(registry, name, alias, previous, "rollback", reason, actor, {"rolled_back": current}, targets, current,
                 trusted, public_key)


def history(registry, name: str) -> list:
    """Return every alias move, gate decision, drift finding and loop step of ``name``, oldest first."""
    registry.versions(name)  # an unknown name says so, naming the models there are
    return registry.journal.history(name)


def _move(registry, name, alias, version, kind, reason, actor, details, targets, expected_previous, trusted,
          public_key) -> Promotion:
    from mldeploy.registry.journal import ANY_VERSION

    expected = ANY_VERSION if expected_previous is None else expected_previous
    event = registry.journal.move_alias(name, alias, version, kind=kind, reason=reason, actor=actor, details=details,
                                        expected_previous=expected)
    outcomes = fan_out(registry, name, alias, targets, trusted, public_key)
    if event is None:
        return Promotion(name, alias, version, version, "unchanged", reason, actor, None, outcomes)
    return Promotion(name, alias, version, event.previous_version, kind, reason, actor, event.at, outcomes)


def _check_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError("give a --reason: every alias move is recorded in history with why it was made")
