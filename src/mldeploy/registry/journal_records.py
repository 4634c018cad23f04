"""Describe what the registry's journal keeps: audit events, gate decisions, loop passes and deliveries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

__all__ = ["Delivery", "GateDecision", "HistoryEvent", "LoopRun"]


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of a model's audit history: an alias move, a gate decision, a drift finding, a loop step.

    ``version`` is where an alias moved to (or the version a decision is about),
    ``previous_version`` where it moved from; ``actor`` is who did it (a user,
    or ``loop@host``); ``details`` holds the figures.
    """

    id: int
    name: str
    kind: str
    at: datetime
    alias: str | None = None
    version: int | None = None
    previous_version: int | None = None
    reason: str = ""
    actor: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the event as JSON-ready values (the time as ISO 8601 text)."""
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True)
class GateDecision:
    """A gate's decision on a challenger version, recorded on that version."""

    id: int
    name: str
    version: int
    against_version: int | None
    passed: bool
    holdout_fingerprint: str
    figures: dict
    decided_at: datetime


@dataclass(frozen=True)
class LoopRun:
    """One pass of the freshness loop over a model's alias and the step it reached."""

    id: int
    name: str
    alias: str
    step: str
    status: str
    """``running`` while a loop works on it; ``done``, ``refused`` or ``abandoned`` once it ended."""
    champion_version: int | None
    challenger_version: int | None
    holder: str
    started_at: datetime
    updated_at: datetime
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What one fan-out target last received for an alias, and whether it still owes the alias's version."""

    name: str
    alias: str
    target: str
    version: int | None
    """The version the target holds (None until one delivery succeeded)."""
    wanted_version: int
    ok: bool
    reason: str
    cursor: int | None
    """A relay's position in the registry's change feed."""
    updated_at: datetime

    @property
    def is_due(self) -> bool:
        """Tell whether the target still has to receive ``wanted_version``."""
        return not self.ok or self.version != self.wanted_version
