"""The prediction database's tables and its documented view, the same on SQLite and PostgreSQL.

An app in any language reads predictions with one query on the view::

    SELECT value, label, probabilities, model_version, predicted_at
    FROM latest_predictions WHERE model_name = 'salary' AND key = '10042';

``latest_predictions`` holds one row per (model_name, key): the prediction
written last (ties: the higher version), by a batch run or by a server.
``predictions`` keeps one row per (model_name, model_version, key) of batch
runs, so every version's predictions stay available for validation.
``served_predictions`` keeps every prediction the API (REST, gRPC) or the
streaming scorer made with ``--log-to`` (one row per answered row, repeats
included; ``role`` is ``served`` for the answer sent, ``shadow`` for a
challenger's answer to the same row), with ``request_id`` where batch rows
have ``run_id``. ``probabilities`` is a JSON object ``{"class": p}``
(classifiers only); ``value`` is set for regressors, ``label`` for
classifiers. Times are UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Double, Index, Integer, MetaData, String, Table, Text, inspect

from mldeploy.registry.tables import UtcDateTime

__all__ = ["LATEST_VIEW", "create_schema", "metadata", "metrics", "predictions", "rejects", "runs", "served", "view_sql"]

_NAME = 200
LATEST_VIEW = "latest_predictions"
# Key columns compare byte by byte on PostgreSQL: its default collation (C.UTF-8 or a language's) calls the C
# library's strcoll for every comparison the primary key's B-tree makes, even where the order is the bytes'.
# Equality is the same either way; 1 M new salary rows by binary COPY: 400k-430k -> 447k-468k rows/s.
_NAME_TYPE = String(_NAME).with_variant(String(_NAME, collation="C"), "postgresql")
_KEY_TYPE = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

# Primary key in lookup order (model, key, version): the one index serves `get`, the view and the
# upsert's conflict check, so each write maintains a single index.
predictions = Table(
    "predictions", metadata,
    Column("model_name", _NAME_TYPE, primary_key=True),
    Column("key", _KEY_TYPE, primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("predicted_at", UtcDateTime, nullable=False),
    Column("value", Double),
    Column("label", Text),
    Column("probabilities", Text),
    sqlite_with_rowid=False,  # rows live in the key's own b-tree: one tree to write per row, not two
)

runs = Table(
    "prediction_runs", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("model_name", String(_NAME), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("engine", String(20), nullable=False),
    Column("input", Text, nullable=False),
    Column("input_fingerprint", String(64), nullable=False),
    Column("key_column", Text, nullable=False),
    Column("status", String(20), nullable=False),  # running | finished | failed
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("rows_total", BigInteger),
    Column("rows_done", BigInteger, nullable=False),  # input rows committed, scored or rejected, from the start
    Column("rows_written", BigInteger, nullable=False),
    Column("rows_rejected", BigInteger, nullable=False),
    Column("error", Text),
)
Index("ix_prediction_runs_fingerprint", runs.c.model_name, runs.c.input_fingerprint)

rejects = Table(
    "prediction_rejects", metadata,
    Column("run_id", String(32), primary_key=True),
    Column("row_number", BigInteger, primary_key=True),  # 0-based position in the input
    Column("key", Text),
    Column("reasons", Text, nullable=False),  # JSON list of every issue: {field, expected, got, reason}
)

served = Table(
    "served_predictions", metadata,
    Column("model_name", _NAME_TYPE, nullable=False),
    Column("key", _KEY_TYPE, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("source", String(20), nullable=False),     # api | stream
    Column("endpoint", String(200), nullable=False),  # rest.predict | rest.infer | grpc.infer | the events topic
    Column("role", String(20), nullable=False),       # served | shadow
    Column("predicted_at", UtcDateTime, nullable=False),
    Column("value", Double),
    Column("label", Text),
    Column("probabilities", Text),
    Column("inputs", Text),  # JSON object of the row as the model saw it; null with --log-inputs none
    Column("latency_s", Double),  # the request's time in the model (API; null from the stream)
)
# An app's lookup of one key: on the key alone, not (model_name, key). Every logged row adds an entry, and a
# one-column entry costs PostgreSQL's COPY a quarter less (3.7-4.2 against 4.3-5.5 µs a row with random keys,
# 600,000 rows); the few rows of other models under the same key are then read and filtered out.
Index("ix_served_predictions_key", served.c.key)
# Rows come in time order: a BRIN index (PostgreSQL) answers "since" as well as a B-tree and costs the
# COPY almost nothing to keep (a B-tree took 1.6 µs of PostgreSQL's 4.4 µs a logged row). SQLite: a B-tree.
Index("ix_served_predictions_time", served.c.model_name, served.c.predicted_at, postgresql_using="brin")

SERVED_COLUMNS = tuple(column.name for column in served.columns)

metrics = Table(
    "prediction_metrics", metadata,
    Column("validation_id", String(32), primary_key=True),
    Column("model_name", String(_NAME), primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("window_start", String(40), primary_key=True),  # ISO time, or "overall"
    Column("metric", String(20), primary_key=True),
    Column("value", Double),
    Column("rows", BigInteger, nullable=False),
    Column("validated_at", UtcDateTime, nullable=False),
)


def view_sql() -> str:
    """Return the CREATE VIEW statement of the latest prediction per key (valid on SQLite and PostgreSQL)."""
    return (
        f"CREATE VIEW {LATEST_VIEW} AS "
        "SELECT model_name, key, model_version, run_id, predicted_at, value, label, probabilities FROM ("
        "SELECT p.*, ROW_NUMBER() OVER (PARTITION BY model_name, key "
        "ORDER BY predicted_at DESC, model_version DESC) AS position FROM ("
        "SELECT model_name, key, model_version, run_id, predicted_at, value, label, probabilities FROM predictions "
        "UNION ALL SELECT model_name, key, model_version, request_id, predicted_at, value, label, probabilities "
        "FROM served_predictions WHERE role = 'served'"
        ") p) ranked WHERE position = 1"
    )


def create_schema(conn: Connection, is_postgres: bool) -> None:
    """Create missing tables and the view inside the caller's write transaction.

    A database made before ``served_predictions`` existed has a view over batch
    rows only: it is replaced when that table is added.
    """
    if is_postgres:  # concurrent first runs on one PostgreSQL queue here instead of colliding
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7091853)")
    inspector = inspect(conn)
    had_served = served.name in inspector.get_table_names()
    metadata.create_all(conn)
    views = inspector.get_view_names()
    if LATEST_VIEW in views and not had_served:
        conn.exec_driver_sql(f"DROP VIEW {LATEST_VIEW}")
        views = []
    if LATEST_VIEW not in views:
        conn.exec_driver_sql(view_sql())
