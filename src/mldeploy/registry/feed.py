"""Write and read the registry's change feed, inside the caller's transaction.

Every change is recorded in the transaction that makes it, so the feed never
shows a change that was rolled back nor misses one that committed. Followers
read "cursor > N", which only works if cursors become visible in increasing
order: on PostgreSQL two writers could take cursors 5 and 6 and commit 6 first,
and a follower at 6 would never see 5. So each writer takes one transaction-level
advisory lock just before recording (the last step of its transaction) and
holds it to commit; SQLite writers are serialised already. The same transaction
sends ``NOTIFY mldeploy_changes`` on PostgreSQL, delivered when it commits.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, select, text

from mldeploy.errors import ConfigError
from mldeploy.registry.records import Change, ChangeFeed, ChangeKind
from mldeploy.registry.tables import changes, utc_now

__all__ = ["CHANNEL", "head", "read_changes", "record_change"]

CHANNEL = "mldeploy_changes"
"""The PostgreSQL notification channel; the payload is the model name."""

_FEED_LOCK_KEY = 0x6D6C6466  # any constant, distinct from the schema lock's


def record_change(conn: Connection, name: str, kind: ChangeKind, version: int | None, alias: str | None = None) -> None:
    """Append one change to the feed in ``conn``'s transaction (call it as the transaction's last step)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK_KEY})
    row = {"name": name, "kind": kind, "version": version, "alias": alias, "at": utc_now()}
    conn.execute(insert(changes).values(row))
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :name)"), {"channel": CHANNEL, "name": name})


def head(conn: Connection) -> int:
    """Return the cursor of the newest change, 0 when there is none."""
    return conn.execute(select(func.max(changes.c.cursor))).scalar() or 0


def read_changes(conn: Connection, since: int | None, name: str | None, limit: int) -> ChangeFeed:
    """Return the changes after ``since`` (of ``name`` only, if given), at most ``limit`` of them.

    ``since=None`` returns no history, only the current cursor. A cursor ahead
    of the feed (the registry was replaced) gives the current one back.
    """
    _check_cursor(since, limit)
    newest = head(conn)
    if since is None or since >= newest:
        return ChangeFeed([], newest)
    query = (
        select(changes)
        .where(changes.c.cursor > since, changes.c.cursor <= newest)
        .order_by(changes.c.cursor)
        .limit(limit)
    )
    if name is not None:
        query = query.where(changes.c.name == name)
    found = [Change(row.cursor, row.name, row.kind, row.version, row.alias, row.at) for row in conn.execute(query)]
    # A full page may stop short of the head: continue from its last entry next time.
    return ChangeFeed(found, found[-1].cursor if len(found) == limit else newest)


def _check_cursor(since: int | None, limit: int) -> None:
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise ConfigError(f"a change cursor is a whole number >= 0 from an earlier ChangeFeed.cursor, got {since!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be a whole number >= 1, got {limit!r}")
