"""Declare the registry's tables, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "alias_history", "aliases", "archives", "changes", "deliveries", "events", "gate_decisions", "loop_runs", "metadata",
    "models", "ops_locks", "record_signatures", "traffic", "traffic_history", "versions",
]

_NAME = 200


class UtcDateTime(TypeDecorator):
    """Store aware datetimes as UTC and always read them back aware.

    SQLite keeps no offset, so values are converted to UTC on the way in and
    tagged UTC on the way out; PostgreSQL's timestamptz is normalised to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: registry timestamps must be timezone-aware")
        utc = value.astimezone(timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utc_now() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Highest version ever allocated: deleted versions are never reused, and this
    # row is what concurrent registrations of one name lock and serialise on.
    Column("last_version", Integer, nullable=False, default=0),
)

archives = Table(
    "archives",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("name", String(_NAME), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(80), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("task", String(40), nullable=False),
    Column("parent_version", Integer, nullable=True),
    Column("manifest", Text, nullable=False),
    Column("archive_digest", String(80), ForeignKey("archives.digest"), nullable=False, index=True),
    Column("size_bytes", BigInteger, nullable=False),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("alias", String(_NAME), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["versions.name", "versions.version"]),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False, index=True),
    Column("alias", String(_NAME), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("changed_at", UtcDateTime, nullable=False),
)

# The change feed: one row per new version, alias move or removal, and deletion, written in the
# transaction of the change itself. Followers poll "cursor > N", an index range on the primary key.
changes = Table(
    "changes",
    metadata,
    Column("cursor", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("version", Integer, nullable=True),
    Column("alias", String(_NAME), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_changes_name_cursor", "name", "cursor"),
)

# Ed25519 signatures over the registry's record (name, version, manifest digest), so a signed
# version cannot be renumbered. No foreign key: a renumbered row must leave its signature behind.
record_signatures = Table(
    "record_signatures",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("signature", LargeBinary, nullable=False),
)


# -- the freshness loop's records (mldeploy.ops): audit history, gate decisions, loop state, locks ----

# Every decision of the loop and of people: alias moves with their reason, gate decisions, drift findings.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("alias", String(_NAME), nullable=True),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("actor", String(_NAME), nullable=False, default=""),
    Column("at", UtcDateTime, nullable=False),
    # The alias_history row this event explains, so history shows each move once.
    Column("alias_move_id", Integer, nullable=True),
    Column("details", Text, nullable=False, default="{}"),
)

# A gate's decision on a challenger version, with its figures and the holdout's fingerprint.
gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False),
    Column("version", Integer, nullable=False),
    Column("against_version", Integer, nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("holdout_fingerprint", String(80), nullable=False),
    Column("figures", Text, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Index("ix_gate_decisions_version", "name", "version"),
)

# One pass of the loop and the step it reached, so a killed loop resumes or cleans up.
loop_runs = Table(
    "loop_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False, index=True),
    Column("alias", String(_NAME), nullable=False),
    Column("step", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("champion_version", Integer, nullable=True),
    Column("challenger_version", Integer, nullable=True),
    Column("holder", String(_NAME), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("details", Text, nullable=False, default="{}"),
)

# One row per locked model: the holder's lease, taken by compare-and-set so two loops never both hold it.
ops_locks = Table(
    "ops_locks",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("holder", String(_NAME), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# The version each fan-out target last received for an alias, or why it failed (retried next run).
deliveries = Table(
    "deliveries",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("alias", String(_NAME), primary_key=True),
    Column("target", String(400), primary_key=True),
    Column("version", Integer, nullable=True),
    Column("wanted_version", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("cursor", Integer, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A canary's share of a model's traffic, beside its aliases: servers follow it (``serve --canary``) and
# a guard sets it to 0 with its reason. Every setting is kept in traffic_history, newest last.
traffic = Table(
    "traffic",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("challenger", String(2 * _NAME + 2), nullable=False),  # the canary's reference: salary:staging, salary@4
    Column("share", Double, nullable=False),  # percent of requests, 0 to 100
    Column("reason", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

traffic_history = Table(
    "traffic_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(_NAME), nullable=False, index=True),
    Column("challenger", String(2 * _NAME + 2), nullable=False),
    Column("share", Double, nullable=False),
    Column("reason", Text, nullable=True),
    Column("changed_at", UtcDateTime, nullable=False),
)
