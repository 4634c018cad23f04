"""Keep the freshness loop's records in the registry's own database, on SQLite and PostgreSQL alike.

The audit history (every alias move with its reason, gate decision, drift
finding), gate decisions on challenger versions, the loop's passes and the
step each reached, the lock that keeps two loops from promoting twice, and
what each fan-out target last received. An alias move and the event that
explains it commit in one transaction, so history never lacks a move's
reason nor shows a move that did not happen. Example::

    journal = registry.journal
    journal.move_alias("salary", "production", 4, kind="promote", reason="Q3 data", actor="ana")
    [event.kind for event in journal.history("salary")]
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mldeploy.errors import AliasConflictError
from mldeploy.registry.journal_records import Delivery, GateDecision, HistoryEvent, LoopRun
from mldeploy.registry.tables import alias_history, deliveries, events, gate_decisions, loop_runs, ops_locks, utc_now

__all__ = ["ANY_VERSION", "Journal"]

ANY_VERSION = object()
"""``expected_previous`` that accepts whatever the alias points at."""


class Journal:
    """The loop's records beside a registry's versions (get one from :attr:`Registry.journal`)."""

    def __init__(self, store):
        self._store = store
        self._db = store.database

    # -- audit history -------------------------------------------------------

    def record(self, name: str, kind: str, reason: str = "", actor: str = "", alias: str | None = None,
               version: int | None = None, previous: int | None = None, details: dict | None = None) -> HistoryEvent:
        """Append one event to ``name``'s history and return it."""
        row = _event_row(name, kind, reason, actor, alias, version, previous, details)
        return self._db.transact(lambda conn: _insert_event(conn, row))

    def move_alias(self, name: str, alias: str, version: int, kind: str, reason: str, actor: str = "",
                   details: dict | None = None, expected_previous=ANY_VERSION) -> HistoryEvent | None:
        """Point ``alias`` at ``version`` and record why, in one transaction; None if it pointed there already.

        With ``expected_previous`` the move happens only if the alias still
        points there (None: the alias does not exist yet); otherwise nothing
        changes and AliasConflictError says where it points now.
        """
        recorded: list[HistoryEvent] = []

        def also(conn: Connection, previous: int | None, move_id: int | None) -> None:
            if expected_previous is not ANY_VERSION and previous != expected_previous and previous != version:
                raise AliasConflictError(
                    f'{name}:{alias} points at version {previous}, not {expected_previous} as expected: someone moved it '
                    "meanwhile; look at `mldeploy history` and decide again")
            if move_id is not None:
                row = _event_row(name, kind, reason, actor, alias, version, previous, details)
                recorded.append(_insert_event(conn, {**row, "alias_move_id": move_id}))

        self._store.move_alias(name, alias, version, also)
        return recorded[0] if recorded else None

    def history(self, name: str) -> list[HistoryEvent]:
        """Return every event of ``name``, oldest first, with alias moves made outside ops (no reason) among them."""
        with self._db.read() as conn:
            rows = conn.execute(select(events).where(events.c.name == name).order_by(events.c.id)).all()
            moves = conn.execute(select(alias_history).where(alias_history.c.name == name)).all()
        found = [_event_of(row) for row in rows]
        explained = {row.alias_move_id for row in rows if row.alias_move_id is not None}
        found += [HistoryEvent(0, name, "alias" if move.version is not None else "alias-removed", move.changed_at,
                               move.alias, move.version, move.previous_version)
                  for move in moves if move.id not in explained]
        return sorted(found, key=lambda event: event.at)

    # -- gate decisions ------------------------------------------------------

    def record_gate(self, name: str, version: int, against_version: int | None, passed: bool,
                    holdout_fingerprint: str, figures: dict, actor: str = "", reason: str = "") -> GateDecision:
        """Record a gate's decision on ``name@version`` (and its history event) and return it."""
        now = utc_now()
        row = {"name": name, "version": version, "against_version": against_version, "passed": passed,
               "holdout_fingerprint": holdout_fingerprint, "figures": _json(figures), "decided_at": now}
        event = _event_row(name, "gate-passed" if passed else "gate-failed", reason, actor, None, version,
                           against_version, {"holdout_fingerprint": holdout_fingerprint, **figures})

        def work(conn: Connection) -> GateDecision:
            decision_id = conn.execute(insert(gate_decisions).values(row)).inserted_primary_key[0]
            _insert_event(conn, event)
            return GateDecision(decision_id, name, version, against_version, passed, holdout_fingerprint, figures, now)

        return self._db.transact(work)

    def gate_decision(self, name: str, version: int) -> GateDecision | None:
        """Return the latest gate decision on ``name@version``, or None if it was never gated."""
        query = (select(gate_decisions).where(gate_decisions.c.name == name, gate_decisions.c.version == version)
                 .order_by(gate_decisions.c.id.desc()).limit(1))
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return GateDecision(row.id, row.name, row.version, row.against_version, bool(row.passed),
                            row.holdout_fingerprint, json.loads(row.figures), row.decided_at)

    # -- the loop's lock -----------------------------------------------------

    def acquire_lock(self, name: str, holder: str, lease_s: float, replacing: str | None = None) -> bool:
        """Take (or renew) ``name``'s lock for ``lease_s`` seconds; False while another holder's lease runs.

        ``replacing`` names a holder known to be dead, whose lock is taken at once.
        """
        def work(conn: Connection) -> bool:
            now = utc_now()
            expires = now + timedelta(seconds=lease_s)
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            first = dialect.insert(ops_locks).values(name=name, holder=holder, expires_at=expires)
            if conn.execute(first.on_conflict_do_nothing(index_elements=["name"])).rowcount == 1:
                return True
            takeable = or_(ops_locks.c.holder == holder, ops_locks.c.expires_at < now)
            if replacing is not None:
                takeable = or_(takeable, ops_locks.c.holder == replacing)
            claim = update(ops_locks).where(and_(ops_locks.c.name == name, takeable))
            return conn.execute(claim.values(holder=holder, expires_at=expires)).rowcount == 1

        return self._db.transact(work)

    def lock_holder(self, name: str) -> str | None:
        """Return who holds ``name``'s lock (even if the lease ran out), or None."""
        with self._db.read() as conn:
            return conn.execute(select(ops_locks.c.holder).where(ops_locks.c.name == name)).scalar_one_or_none()

    def release_lock(self, name: str, holder: str) -> None:
        """Give up ``name``'s lock if ``holder`` holds it (its lease ends now)."""
        mine = and_(ops_locks.c.name == name, ops_locks.c.holder == holder)
        self._db.transact(lambda conn: conn.execute(update(ops_locks).where(mine).values(expires_at=utc_now())))

    # -- the loop's passes ---------------------------------------------------

    def start_run(self, name: str, alias: str, holder: str, champion_version: int | None) -> LoopRun:
        """Record a new pass of the loop at its first step (drift) and return it."""
        now = utc_now()
        row = {"name": name, "alias": alias, "step": "drift", "status": "running", "champion_version": champion_version,
               "challenger_version": None, "holder": holder, "started_at": now, "updated_at": now, "details": "{}"}
        run_id = self._db.transact(lambda conn: conn.execute(insert(loop_runs).values(row)).inserted_primary_key[0])
        return LoopRun(run_id, name, alias, "drift", "running", champion_version, None, holder, now, now)

    def update_run(self, run: LoopRun, step: str | None = None, status: str | None = None,
                   challenger_version: int | None = None, details: dict | None = None) -> LoopRun:
        """Record the step (and status, challenger, details) a pass reached; return the updated pass."""
        values = {"updated_at": utc_now()}
        for key, value in (("step", step), ("status", status), ("challenger_version", challenger_version)):
            if value is not None:
                values[key] = value
        merged = {**run.details, **(details or {})}
        values["details"] = _json(merged)
        self._db.transact(lambda conn: conn.execute(update(loop_runs).where(loop_runs.c.id == run.id).values(values)))
        kept = {k: v for k, v in values.items() if k in ("step", "status", "challenger_version", "updated_at")}
        return LoopRun(**{**run.__dict__, **kept, "details": merged})

    def runs(self, name: str, status: str | None = None) -> list[LoopRun]:
        """Return ``name``'s loop passes (only those with ``status``, if given), oldest first."""
        query = select(loop_runs).where(loop_runs.c.name == name).order_by(loop_runs.c.id)
        if status is not None:
            query = query.where(loop_runs.c.status == status)
        with self._db.read() as conn:
            return [_run_of(row) for row in conn.execute(query)]

    # -- fan-out deliveries --------------------------------------------------

    def delivery(self, name: str, alias: str, target: str) -> Delivery | None:
        """Return what ``target`` last received for ``name:alias``, or None if it never was asked to."""
        where = (deliveries.c.name == name) & (deliveries.c.alias == alias) & (deliveries.c.target == target)
        with self._db.read() as conn:
            row = conn.execute(select(deliveries).where(where)).first()
        return None if row is None else _delivery_of(row)

    def record_delivery(self, name: str, alias: str, target: str, wanted_version: int, ok: bool, reason: str = "",
                        cursor: int | None = None) -> Delivery:
        """Record a delivery attempt of ``wanted_version`` to ``target`` (on success the target holds it)."""
        def work(conn: Connection) -> Delivery:
            where = (deliveries.c.name == name) & (deliveries.c.alias == alias) & (deliveries.c.target == target)
            held = conn.execute(select(deliveries.c.version, deliveries.c.cursor).where(where)).first()
            values = {"wanted_version": wanted_version, "ok": ok, "reason": reason, "updated_at": utc_now(),
                      "version": wanted_version if ok else (held.version if held else None),
                      "cursor": cursor if cursor is not None else (held.cursor if held else None)}
            if held is None:
                conn.execute(insert(deliveries).values(name=name, alias=alias, target=target, **values))
            else:
                conn.execute(update(deliveries).where(where).values(values))
            return Delivery(name, alias, target, values["version"], wanted_version, ok, reason, values["cursor"],
                            values["updated_at"])

        return self._db.transact(work)


def _json(value: dict) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _event_row(name, kind, reason, actor, alias, version, previous, details) -> dict:
    return {"name": name, "kind": kind, "reason": reason or "", "actor": actor or "", "alias": alias, "version": version,
            "previous_version": previous, "at": utc_now(), "details": _json(details or {}), "alias_move_id": None}


def _insert_event(conn: Connection, row: dict) -> HistoryEvent:
    event_id = conn.execute(insert(events).values(row)).inserted_primary_key[0]
    return HistoryEvent(event_id, row["name"], row["kind"], row["at"], row["alias"], row["version"],
                        row["previous_version"], row["reason"], row["actor"], json.loads(row["details"]))


def _event_of(row) -> HistoryEvent:
    return HistoryEvent(row.id, row.name, row.kind, row.at, row.alias, row.version, row.previous_version, row.reason,
                        row.actor, json.loads(row.details))


def _run_of(row) -> LoopRun:
    return LoopRun(row.id, row.name, row.alias, row.step, row.status, row.champion_version, row.challenger_version,
                   row.holder, row.started_at, row.updated_at, json.loads(row.details))


def _delivery_of(row) -> Delivery:
    return Delivery(row.name, row.alias, row.target, row.version, row.wanted_version, bool(row.ok), row.reason,
                    row.cursor, row.updated_at)
