"""A model's canary share, kept in the registry beside its aliases (tables ``traffic`` and ``traffic_history``).

``mldeploy serve --canary salary:staging=10%`` writes the share it starts with;
every server of the model follows the record (one primary-key read per poll),
so setting it (``Registry.set_traffic``) changes the split everywhere without a
restart, and a canary guard that stops the challenger writes 0 with its reason.
Every setting is kept in ``traffic_history`` with the reason given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from mldeploy.errors import ConfigError
from mldeploy.registry.tables import traffic, traffic_history, utc_now

__all__ = ["TrafficRecord", "check_share", "read_traffic", "read_traffic_history", "write_traffic"]


@dataclass(frozen=True)
class TrafficRecord:
    """The share of a model's requests its canary answers, and why it was last set."""

    name: str
    challenger: str
    share: float
    """Percent of requests, 0 to 100."""
    reason: str | None
    updated_at: datetime


def check_share(share: float) -> float:
    """Return ``share`` as a float; ConfigError unless it is a percentage from 0 to 100."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 100:
        raise ConfigError(f"a canary share is a percentage from 0 to 100, got {share!r}")
    return float(share)


def write_traffic(conn: Connection, name: str, challenger: str, share: float, reason: str | None) -> TrafficRecord:
    """Set the canary share of ``name`` in the caller's transaction, and keep the setting in the history."""
    now = utc_now()
    values = dict(challenger=challenger, share=check_share(share), reason=reason)
    found = conn.execute(select(traffic.c.name).where(traffic.c.name == name).with_for_update()).first()
    if found is None:
        conn.execute(insert(traffic).values(name=name, updated_at=now, **values))
    else:
        conn.execute(update(traffic).where(traffic.c.name == name).values(updated_at=now, **values))
    conn.execute(insert(traffic_history).values(name=name, changed_at=now, **values))
    return TrafficRecord(name, challenger, values["share"], reason, now)


def read_traffic(conn: Connection, name: str) -> TrafficRecord | None:
    """Return the canary share of ``name``, None when none was ever set."""
    row = conn.execute(select(traffic).where(traffic.c.name == name)).first()
    return None if row is None else TrafficRecord(row.name, row.challenger, row.share, row.reason, row.updated_at)


def read_traffic_history(conn: Connection, name: str) -> list[TrafficRecord]:
    """Return every setting of the canary share of ``name``, oldest first."""
    query = select(traffic_history).where(traffic_history.c.name == name).order_by(traffic_history.c.id)
    return [TrafficRecord(row.name, row.challenger, row.share, row.reason, row.changed_at) for row in conn.execute(query)]
