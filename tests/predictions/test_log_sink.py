"""The database sink of the prediction log: hostile text and odd numbers stored as given, on PostgreSQL (COPY) and SQLite."""

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.bundle import BundleRef
from mldeploy.predictions import tables
from mldeploy.predictions.log_sink import DatabaseLogSink
from mldeploy.serving import Prediction, ServingPath
from mldeploy.serving.prediction_log import LogEntry, LogRow

_AT = 1_796_000_000.1234567  # 2026-12-01: its microseconds round up, as datetime.fromtimestamp rounds them


class _Entry:
    def __init__(self, rows: list[LogRow]):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[LogRow]:
        return self._rows


def _row(key: str, value: float | None = 1.5, inputs: str | None = '{"a":1}', request_id: str = "r1") -> LogRow:
    return LogRow("salary", key, 2, request_id, "api", "rest.predict", "served", _AT, value, None, None, inputs, 0.002)


HOSTILE = [
    _row("tab\there", inputs='{"note":"line\\nbreak \\\\ slash"}'),
    _row("new\nline\rreturn", request_id="id\\with\\backslashes"),
    _row("back\\slash\\N", inputs=None),  # "\N" is COPY's null: the key must not become one
    _row("nul\x00byte", value=float("nan")),
    _row("ünïcødé ✓", value=float("inf")),
    _row("lone\ud800surrogate", value=None),
]


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return request.getfixturevalue("postgres_database")


def test_every_column_of_a_log_row_is_a_column_of_the_table():
    assert LogRow._fields == tables.SERVED_COLUMNS


def test_hostile_text_and_odd_numbers_are_stored_as_given(database):
    sink = DatabaseLogSink(database)
    try:
        sink.write([_Entry(HOSTILE[:3]), _Entry(HOSTILE[3:])])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        stored = pd.concat(list(store.iter_served("salary"))).set_index("request_id", drop=False)
    keys = sorted(stored.key)
    postgres = database.startswith("postgresql")
    expected = sorted(row.key for row in HOSTILE[:3]) + [
        "nul\\u0000byte" if postgres else "nul\x00byte",  # PostgreSQL stores no NUL: it is kept as its JSON escape
        "ünïcødé ✓",
        "lone?surrogate",  # from JSON parsed without orjson: neither database can store it
    ]
    assert keys == sorted(expected)
    by_key = stored.set_index("key")
    assert by_key.loc["tab\there", "inputs"] == '{"note":"line\\nbreak \\\\ slash"}'
    assert by_key.loc["new\nline\rreturn", "request_id"] == "id\\with\\backslashes"
    assert by_key.loc["back\\slash\\N", "inputs"] is None
    assert by_key.loc["ünïcødé ✓", "value"] == math.inf
    assert pd.isna(by_key.loc["tab\there", "label"])
    when = by_key.loc["tab\there", "predicted_at"]
    assert pd.Timestamp(when).to_pydatetime() == datetime.fromtimestamp(_AT, timezone.utc)


def _written_whole_and_row_by_row(database: str, entries: list,
                                  made: list | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``entries`` as they are (or ``made`` from them), then their rows one by one (as shadows, to tell them
    apart); read both back."""
    by_row = [row._replace(role="shadow") for entry in entries for row in entry.rows()]
    sink = DatabaseLogSink(database)
    try:
        sink.write(entries if made is None else made)
        sink.write([_Entry(by_row)])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        stored = pd.concat(list(store.iter_served("salary")))
    return tuple(stored[stored.role == role].drop(columns="role").sort_values("key").reset_index(drop=True)
                 for role in ("served", "shadow"))


def test_api_entries_written_a_column_at_a_time_read_back_as_their_rows_written_one_by_one(database):
    def entry(key, value, inputs, request_id):
        prediction = Prediction(BundleRef("salary", 2), ServingPath.COMPILED, np.array([value]))
        return LogEntry(prediction, [key], inputs, "api", "rest.infer", request_id, at=_AT, latency_s=0.002)

    entries = [entry("tab\there", 1.5, [{"note": "line\nbreak \\ slash", "n": 1}], "r1"),
               entry("back\\slash\\N", float("nan"), None, "v2-" + "x" * 97),
               entry("nul\x00byte", -0.0, {"city": np.array(["Oslo"], dtype=object)}, "r3"),
               *(entry(f"k{i}", i / 7, [{"i": i}], f"r{i}") for i in range(4, 600))]  # more than one slice
    served, by_row = _written_whole_and_row_by_row(database, entries)
    assert len(served) == len(entries)
    pd.testing.assert_frame_equal(served, by_row)


def test_stream_batches_written_as_their_columns_read_back_as_their_rows_written_one_by_one(database):
    from confluent_kafka import Message

    from mldeploy.stream.log_entry import BatchEvents, ScoredEntry
    from mldeploy.stream.scoring import Scored

    def batch(first: int, count: int, model: str) -> ScoredEntry:
        messages = [Message(topic="events", partition=1, offset=first + i, key=b"k%d" % (first + i),
                            value=b'{"note":"tab\there","i":%d}' % i) for i in range(count)]
        scored = Scored(predictions={i: b'{"prediction":%d.5}' % i for i in range(count)},
                        models={i: model for i in range(count)})
        return ScoredEntry(BatchEvents.of(messages), scored, "events", _AT, with_inputs=True)

    batches = [batch(0, 300, "salary@2"), ScoredEntry(BatchEvents.of([]), Scored(), "events", _AT, with_inputs=True),
               batch(300, 40, "salary@3")]
    served, by_row = _written_whole_and_row_by_row(database, batches)
    assert len(served) == 340 and set(served.model_version) == {2, 3}
    pd.testing.assert_frame_equal(served, by_row)


@pytest.mark.parametrize("event", [
    b'{"i":%d}',                      # plain ASCII: the events' own bytes go into the COPY as they came
    b'{"city":"Z\xc3\xbcrich","i":%d}',   # UTF-8 beyond ASCII: the same
    b'{"bad":"\xff\xfe","i":%d}',         # not UTF-8: read with replacement characters, as the rows are
    b'{"path":"C:\\\\dir\\n","i":%d}',  # backslashes, which COPY text must escape
], ids=["ascii", "utf-8", "not-utf-8", "backslashes"])
def test_stream_events_logged_as_their_own_bytes_read_back_as_their_rows(database, event):
    from confluent_kafka import Message

    from mldeploy.stream.log_entry import BatchEvents, ScoredEntry
    from mldeploy.stream.scoring import Scored

    keys = [b"k%d" % i if i % 7 else None for i in range(200)]  # every seventh event came without a key
    messages = [Message(topic="events", partition=0, offset=i, key=key, value=event % i) for i, key in enumerate(keys)]
    scored = Scored(predictions={i: b'{"prediction":%d.25}' % i for i in range(200)}, models=dict.fromkeys(range(200), "salary@2"))
    unkeyed = []
    entry = ScoredEntry(BatchEvents.of(messages), scored, "events", _AT, with_inputs=True, count_unkeyed=unkeyed.append)
    served, by_row = _written_whole_and_row_by_row(database, [entry])
    assert len(served) == 200 and unkeyed[0] == 29 and served.key.str.startswith("events/0/").sum() == 29
    pd.testing.assert_frame_equal(served, by_row)


def test_copy_text_lays_out_shared_and_per_row_fields_in_column_order():
    from mldeploy.predictions.log_sink import _laid_out

    assert _laid_out((b"a", b"b"), 2) == b"a\tb\na\tb\n"  # every field shared
    assert _laid_out(([b"1", b"2"], b"s", b"t", [b"x", b"y"]), 2) == b"1\ts\tt\tx\n2\ts\tt\ty\n"
    assert _laid_out((b"s", [b"1", b"2"], b"t"), 2) == b"s\t1\tt\ns\t2\tt\n"


def test_an_id_longer_than_its_column_is_shortened_and_stays_distinct(database):
    long_ids = ["v2-" + "x" * 97, "v2-" + "x" * 96 + "y"]  # a V2 request's id has no length limit
    sink = DatabaseLogSink(database)
    try:
        sink.write([_Entry([_row(f"k{i}", request_id=request_id) for i, request_id in enumerate(long_ids)])])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        stored = pd.concat(list(store.iter_served("salary"))).sort_values("key")
    assert all(len(request_id) == 64 for request_id in stored.request_id) and stored.request_id.nunique() == 2


def test_rows_the_table_can_never_hold_are_dropped_and_counted_and_the_rest_written(database):
    from mldeploy.serving.prediction_log import PredictionLog

    class _Broken(_Entry):
        def rows(self):
            raise ValueError("a prediction message no parser reads")

    out_of_range = _row("too-new")._replace(model_version=2**40)  # PostgreSQL's integer refuses it; SQLite keeps it
    log = PredictionLog(DatabaseLogSink(database))
    try:
        for entry in (_Entry([_row("a")]), _Broken([_row("x")]), _Entry([out_of_range]), _Entry([_row("b")])):
            log.submit(entry)
        assert log.flush(30)
    finally:
        log.close()
    with PredictionStore(database) as store:
        keys = set(pd.concat(list(store.iter_served("salary"))).key)
    refused = 2 if database.startswith("postgresql") else 1
    assert {"a", "b"} <= keys and "x" not in keys
    assert (log.written, log.refused, log.dropped) == (4 - refused, refused, refused)


def test_a_batch_of_many_slices_is_one_transaction_written_whole_or_not_at_all(database):
    from mldeploy.predictions import log_sink
    from mldeploy.serving.prediction_log import RowsRefused

    size = log_sink._ROWS_PER_SLICE
    entries = [_Entry([_row(f"k{e}-{i}") for i in range(size // 2 + 1)]) for e in range(5)]  # about three slices
    late_refusal = [*entries, _Entry([_row("late")._replace(model_version=2**40)])]
    sink = DatabaseLogSink(database)
    try:
        if database.startswith("postgresql"):  # the refused row is in the last slice: the whole COPY is refused
            with pytest.raises(RowsRefused):
                sink.write(late_refusal)
        sink.write(entries)
    finally:
        sink.close()
    with PredictionStore(database) as store:
        keys = list(pd.concat(list(store.iter_served("salary"))).key)
    assert sorted(keys) == sorted(row.key for entry in entries for row in entry.rows())


def test_every_finite_number_reads_back_to_the_same_float(database):
    values = [0.1 + 0.2, 1e-7, 123456789.12345679, 5e-324, -0.0, 1.7976931348623157e308, 81312.23362556958]
    sink = DatabaseLogSink(database)
    try:  # no None, NaN or infinity: the column goes in one dump, not value by value
        sink.write([_Entry([_row(f"n{i}", value=value) for i, value in enumerate(values)])])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        stored = pd.concat(list(store.iter_served("salary"))).set_index("key")
    assert [float(stored.loc[f"n{i}", "value"]) for i in range(len(values))] == values
    assert all(float(stored.loc[f"n{i}", "latency_s"]) == 0.002 for i in range(len(values)))


def test_a_boolean_prediction_is_stored_as_a_number(database):
    # a stream classifier with True/False classes and no probabilities logs its label as the value
    sink = DatabaseLogSink(database)
    try:
        sink.write([_Entry([_row("yes", value=True), _row("no", value=False)])])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        stored = pd.concat(list(store.iter_served("salary"))).set_index("key")
    assert (stored.loc["yes", "value"], stored.loc["no", "value"]) == (1.0, 0.0)


def test_on_postgresql_the_time_index_is_brin_which_costs_the_copy_almost_nothing(postgres_database):
    import sqlalchemy

    DatabaseLogSink(postgres_database).close()  # creates the tables
    engine = sqlalchemy.create_engine(postgres_database)
    try:
        with engine.connect() as conn:
            definition = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_served_predictions_time'").scalar_one()
    finally:
        engine.dispose()
    assert "USING brin (model_name, predicted_at)" in definition


def test_rows_made_into_copy_text_before_the_write_read_back_as_their_rows_written_one_by_one(postgres_database):
    entries = [_Entry(HOSTILE), *(_Entry([_row(f"k{i}", value=i / 7)]) for i in range(300))]
    sink = DatabaseLogSink(postgres_database)
    try:
        made = sink.prepare(entries[:150]) + sink.prepare(entries[150:])  # two ticks of the log's writer
        assert [len(part) for part in made] == [155, 151]
        halves = made[0].halves()
        assert [len(half) for half in halves] == [77, 78] and b"".join(h.data for h in halves) == made[0].data
    finally:
        sink.close()
    served, by_row = _written_whole_and_row_by_row(postgres_database, entries, [*halves, made[1]])
    assert len(served) == 306
    pd.testing.assert_frame_equal(served, by_row)


def test_a_row_refused_inside_made_copy_text_is_found_and_the_rest_written(postgres_database):
    from mldeploy.serving.prediction_log import PredictionLog

    sink = DatabaseLogSink(postgres_database)
    refused = _Entry([_row("too-new")._replace(model_version=2**40)])
    made = sink.prepare([_Entry([_row(f"k{i}")]) for i in range(40)] + [refused])
    log = PredictionLog(sink, prepare_every_s=0.02)
    try:
        log._queued_rows = 41  # first: the writer may take the parts as soon as they are there
        log._prepared, log._prepared_rows = made, 41  # as the writer's turns leave them
        log._wake.set()
        assert log.flush(30)
    finally:
        log.close()
    with PredictionStore(postgres_database) as store:
        keys = set(pd.concat(list(store.iter_served("salary"))).key)
    assert keys == {f"k{i}" for i in range(40)} and (log.written, log.refused, log.dropped) == (40, 1, 1)


def test_entries_whose_rows_are_not_what_they_count_are_not_made_ahead_and_sqlite_makes_nothing_ahead(database):
    class _Miscounted(_Entry):
        def __len__(self) -> int:
            return 2  # one row made: halving its text by line would lose count of one

    sink = DatabaseLogSink(database)
    try:
        if database.startswith("sqlite"):
            assert sink.prepare is None  # the log then takes no turns between writes
        else:
            entries = [_Entry([_row("a")]), _Miscounted([_row("b")])]
            assert sink.prepare(entries) == entries
            assert [len(part) for part in sink.prepare(entries[:1])] == [1]
    finally:
        sink.close()


def test_the_key_index_is_on_the_key_alone_which_each_logged_row_keeps_cheaper(database):
    from sqlalchemy import create_engine, inspect

    DatabaseLogSink(database).close()
    engine = create_engine(database)
    try:
        indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("served_predictions")}
    finally:
        engine.dispose()
    assert indexes["ix_served_predictions_key"] == ["key"]


def test_a_batch_whose_labels_are_all_zero_and_signed_zeros_are_written_as_they_are(database):
    rows = [_row(f"k{i}", value=value)._replace(label=label) for i, (value, label) in
            enumerate([(0.0, 0), (-0.0, 0), (-0.0, 0), (0.0, 0)])]  # every label the number 0; zeros of both signs
    sink = DatabaseLogSink(database)
    try:
        sink.write([_Entry(rows[:2])])  # a slice whose labels are all the number 0
        sink.write([_Entry(rows)])
    finally:
        sink.close()
    with PredictionStore(database) as store:
        served = pd.concat(list(store.iter_served("salary"))).sort_values(["key", "request_id"])
    assert served.label.tolist() == ["0"] * 6
    if not database.startswith("sqlite"):  # SQLite stores -0.0 as 0 whatever writes it
        assert [math.copysign(1, value) for value in served.value] == [1, 1, -1, -1, -1, 1]
