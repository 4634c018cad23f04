"""Input readers: CSV, Parquet file and folder, database table and query; skipping; clear errors."""

import sqlite3

import pyarrow as pa
import pytest

from mldeploy.batch.input_tables import open_input
from mldeploy.errors import ConfigError

from _batch_inputs import people

pytestmark = pytest.mark.timeout(60)


def _keys(source, chunk_rows=400, skip_rows=0):
    tables = list(source.iter_tables(["employee_id"], chunk_rows, skip_rows=skip_rows))
    assert all(t.num_rows <= chunk_rows for t in tables)
    return pa.concat_tables(tables).column(0).to_pylist() if tables else []


@pytest.fixture
def frame():
    return people(1000)


def test_parquet_file_and_folder_read_in_order_and_skip(tmp_path, frame):
    frame.to_parquet(tmp_path / "one.parquet", row_group_size=300)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:600].to_parquet(folder / "a.parquet")
    frame.iloc[600:].to_parquet(folder / "b.parquet")
    expected = frame["employee_id"].tolist()
    for source in (open_input(tmp_path / "one.parquet"), open_input(folder)):
        assert source.count_rows() == 1000
        assert _keys(source) == expected
        assert _keys(source, skip_rows=650) == expected[650:]
        assert _keys(source, skip_rows=1000) == []


def test_csv_is_read_as_text_in_chunks_of_rows(tmp_path, frame):
    frame.to_csv(tmp_path / "people.csv", index=False)
    source = open_input(tmp_path / "people.csv")
    assert source.columns() == list(frame.columns)
    assert _keys(source, chunk_rows=256) == [str(k) for k in frame["employee_id"]]
    assert _keys(source, chunk_rows=256, skip_rows=999) == [str(frame["employee_id"].iloc[-1])]


def test_database_table_and_query_are_ordered_by_key(tmp_path, frame):
    path = tmp_path / "hr.db"
    with sqlite3.connect(path) as conn:
        frame.iloc[::-1].to_sql("people", conn, index=False)
    url = f"sqlite:///{path}"
    expected = frame["employee_id"].tolist()
    by_table = open_input(url, table="people", key="employee_id")
    assert by_table.count_rows() == 1000 and _keys(by_table) == expected
    by_query = open_input(url, query="SELECT * FROM people WHERE age > 0", key="employee_id")
    assert _keys(by_query, skip_rows=10) == expected[10:]
    assert by_table.fingerprint() != by_query.fingerprint()


def test_fingerprint_follows_content(tmp_path, frame):
    frame.to_parquet(tmp_path / "a.parquet")
    before = open_input(tmp_path / "a.parquet").fingerprint()
    frame.assign(age=frame["age"] + 1).to_parquet(tmp_path / "a.parquet")
    assert open_input(tmp_path / "a.parquet").fingerprint() != before


@pytest.mark.parametrize("name, content, message", [
    ("broken.parquet", b"PAR1 this is not parquet", "is not a readable Parquet input"),
    ("people.txt", b"a,b\n1,2\n", "unknown file type .txt"),
    ("empty.csv", b"", "is not a readable CSV file"),
])
def test_unreadable_inputs_are_config_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        open_input(tmp_path / name)


def test_a_ragged_csv_names_the_problem_early_or_while_reading(tmp_path):
    (tmp_path / "early.csv").write_text("employee_id,age\n1,30\n2,31,extra\n")
    with pytest.raises(ConfigError, match="early.csv is not a readable CSV file: .*Expected 2 columns, got 3"):
        open_input(tmp_path / "early.csv")
    good = "".join(f"{i},30\n" for i in range(20_000))  # past the first block the header is read from
    (tmp_path / "late.csv").write_text("employee_id,age\n" + good + "20000,31,extra\n")
    with pytest.raises(ConfigError, match="cannot read .*late.csv: .*Expected 2 columns, got 3"):
        _keys(open_input(tmp_path / "late.csv"), chunk_rows=50_000)


def test_missing_inputs_and_bad_database_options(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        open_input(tmp_path / "nope.parquet")
    with pytest.raises(ConfigError, match="exactly one of --table NAME or --query"):
        open_input(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match="not a plain table name"):
        open_input(f"sqlite:///{tmp_path / 'x.db'}", table="people; drop table x")
    with pytest.raises(ConfigError, match="need a database URL"):
        open_input(tmp_path, table="people")
