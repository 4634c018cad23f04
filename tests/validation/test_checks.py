import math

import numpy as np
import pandas as pd
import pytest

from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.validation.checks import validate
from mldeploy.errors import Issue, SchemaError

pytestmark = pytest.mark.timeout(60)

SCHEMA = Schema(
    (
        Field("years", "number", nullable=False, minimum=0.0, maximum=60.0, dtype="float64"),
        Field("count", "integer", nullable=True, minimum=0.0, maximum=20.0, dtype="int64"),
        Field("city", "category", nullable=True, categories=("austin", "boston"), unseen="reject"),
        Field("level", "category", nullable=False, categories=("junior", "senior"), unseen="accept"),
        Field("remote", "boolean", nullable=False, dtype="bool"),
    ),
    Output("regression"),
)
GOOD = {"years": 4.5, "count": 3, "city": "austin", "level": "junior", "remote": False}


def issues_of(data, **options) -> list[tuple]:
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, data, **options)
    return [(i.row, i.field, i.expected, i.got) for i in caught.value.issues]


def test_good_rows_are_cast_to_training_dtypes():
    clean = validate(SCHEMA, [GOOD, GOOD | {"count": "7", "years": "2", "remote": "yes"}])
    assert clean.dtypes.astype(str).tolist() == ["float64", "int64", "object", "object", "bool"]
    assert clean["count"].tolist() == [3, 7] and clean["remote"].tolist() == [False, True]


def test_accepted_coercions():
    clean = validate(SCHEMA, [GOOD | {"count": 5.0, "remote": 1}, GOOD | {"remote": "FALSE", "count": None}])
    assert clean["count"].iloc[0] == 5 and math.isnan(clean["count"].iloc[1])
    assert clean["remote"].tolist() == [True, False]


def test_every_bad_field_of_every_bad_row_is_reported():
    rows = [
        GOOD | {"years": "ten"},
        GOOD,
        GOOD | {"years": 70, "count": 2.5, "city": "lisbon", "remote": "maybe"},
        GOOD | {"years": None, "level": None},
    ]
    assert issues_of(rows) == [
        (0, "years", "a number in [0, 60]", '"ten"'),
        (2, "city", "one of [austin, boston]", '"lisbon"'),
        (2, "count", "a whole number in [0, 20]", "2.5"),
        (2, "remote", "true or false", '"maybe"'),
        (2, "years", "a number in [0, 60]", "70"),
        (3, "level", "one of [junior, senior] (this field cannot be empty)", "null"),
        (3, "years", "a number in [0, 60] (this field cannot be empty)", "null"),
    ]


def test_unseen_category_is_accepted_where_the_pipeline_handles_it():
    assert validate(SCHEMA, [GOOD | {"level": "principal"}])["level"].tolist() == ["principal"]


def test_non_finite_numbers_are_refused():
    assert issues_of([GOOD | {"years": float("inf")}]) == [(0, "years", "a finite number (a number in [0, 60])", "inf")]


def test_wrong_types_are_named():
    assert issues_of([GOOD | {"years": True, "city": 5}]) == [
        (0, "city", "text (one of [austin, boston])", "5"),
        (0, "years", "a number in [0, 60]", "true"),
    ]


def test_missing_and_extra_fields_in_records():
    row = {k: v for k, v in GOOD.items() if k != "level"} | {"colour": "red"}
    assert issues_of([row]) == [
        (0, "colour", "one of the known fields (years, count, city, level, remote)", '"red"'),
        (0, "level", "one of [junior, senior]", "nothing (field missing)"),
    ]


def test_a_missing_key_of_a_field_that_may_be_empty_counts_as_empty():
    row = {k: v for k, v in GOOD.items() if k not in ("city", "count")}
    clean = validate(SCHEMA, [row, GOOD])
    assert pd.isna(clean["city"].iloc[0]) and math.isnan(clean["count"].iloc[0]) and clean["city"].iloc[1] == "austin"
    assert validate(SCHEMA, [row]).equals(validate(SCHEMA, [row | {"city": None, "count": None}]))


def test_extra_fields_can_be_ignored():
    assert len(validate(SCHEMA, [GOOD | {"colour": "red"}], extra="ignore")) == 1


def test_missing_and_extra_columns_in_a_frame():
    frame = pd.DataFrame([GOOD]).drop(columns="remote").assign(colour="red")
    assert issues_of(frame) == [
        (None, "colour", "one of the known fields (years, count, city, level, remote)", "an extra column"),
        (None, "remote", "a column (true or false)", "no such column"),
    ]


def test_rows_that_are_not_objects():
    assert issues_of([GOOD, 42]) == [(1, "(row)", "an object of fields", "an int")]


def test_input_that_is_not_rows():
    assert issues_of("years=4") == [(None, "(input)", "a DataFrame, a list of objects or one object", "a str")]


def test_message_shows_the_first_issues_and_counts_the_rest():
    rows = [GOOD | {"years": -1}] * 8
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, rows)
    text = str(caught.value)
    assert text.startswith('8 bad field(s) in 8 row(s): row 0, field "years": expected a number in [0, 60], got -1;')
    assert "and 3 more; fix the values or retrain" in text
    assert isinstance(caught.value, ValueError)


def test_schema_error_survives_pickling():
    import pickle

    error = SchemaError([Issue(3, "age", "a number", '"x"')])
    again = pickle.loads(pickle.dumps(error))
    assert again.issues == error.issues and str(again) == str(error)


def test_large_frames_are_checked_in_bulk():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "years": rng.uniform(0, 60, 200_000), "count": rng.integers(0, 20, 200_000),
        "city": rng.choice(["austin", "boston"], 200_000), "level": "junior", "remote": True,
    })
    frame.loc[123_456, "years"] = 99
    assert issues_of(frame) == [(123_456, "years", "a number in [0, 60]", "99")]


@pytest.mark.parametrize("text", ["2.1000000000000003", "0000000000000000045.5", "000000000000000040.5", " 7e0 "])
def test_a_number_given_as_text_reads_as_python_reads_it(text):
    # as the row and column checks read it (and scikit-learn): the bulk validator used pandas' parser, which
    # gave "2.1000000000000003" another last bit and "000000000000000040.5" the value 40.0
    clean = validate(SCHEMA, pd.DataFrame([GOOD | {"years": text}] * 3))
    assert clean["years"].tolist() == [float(text)] * 3


def test_a_repeated_column_is_named_not_a_crash():
    frame = pd.DataFrame([GOOD])
    frame = pd.concat([frame, frame[["city"]]], axis=1)
    with pytest.raises(SchemaError, match="drop or rename the repeated ones") as caught:
        validate(SCHEMA, frame)
    assert [(i.field, i.expected, i.got) for i in caught.value.issues] == [("city", "one column of that name", "2 columns")]


def test_repeated_unknown_columns_are_ignored_when_asked():
    frame = pd.DataFrame([GOOD])
    frame = pd.concat([frame, pd.DataFrame({"note": ["a"]}), pd.DataFrame({"note": ["b"]})], axis=1)
    assert validate(SCHEMA, frame, extra="ignore")["city"].tolist() == ["austin"]


def test_complex_numbers_are_not_numbers():
    for column in (np.array([4 + 7j]), np.array([4 + 7j], dtype=object)):
        frame = pd.DataFrame([GOOD]).assign(years=column)
        assert [issue[:3] for issue in issues_of(frame)] == [(0, "years", "a number in [0, 60]")]


# A text field whose pipeline takes NaN (imputed) and None (a category of its own), trained with NaN.
BOTH = Schema((Field("city", "category", categories=("austin",), unseen="accept", nulls=("nan", "none")),), Output("regression"))
NAN_ONLY = Schema((Field("city", "category", categories=("austin",), unseen="reject", nulls=("nan",)),), Output("regression"))


def test_empty_texts_reach_the_pipeline_as_given_by_default():
    city = validate(BOTH, pd.DataFrame({"city": pd.Series([None, np.nan, "austin"], dtype=object)}))["city"].tolist()
    assert city[0] is None and isinstance(city[1], float) and math.isnan(city[1]) and city[2] == "austin"


def test_as_trained_gives_every_empty_text_the_marker_training_had():
    city = validate(BOTH, [{"city": None}, {"city": float("nan")}], missing="as-trained")["city"].tolist()
    assert all(isinstance(v, float) and math.isnan(v) for v in city)
    assert validate(NAN_ONLY, [{"city": None}], missing="as-trained")["city"].isna().all()


def test_a_marker_the_pipeline_refuses_is_named():
    assert issues_of_schema(NAN_ONLY, [{"city": float("nan")}, {"city": None}]) == [
        (1, "city", "one of [austin] (empty only as NaN: the pipeline refuses None here)", "null")]


def test_other_empty_markers_become_the_marker_training_had():
    city = validate(BOTH, pd.DataFrame({"city": pd.array([pd.NA, "austin"], dtype="string")}))["city"].tolist()
    assert isinstance(city[0], float) and math.isnan(city[0])


def test_missing_and_extra_rules_are_checked():
    from mldeploy.errors import ConfigError

    with pytest.raises(ConfigError, match='missing=.* is not a valid choice; expected one of "as-given", "as-trained"'):
        validate(SCHEMA, [GOOD], missing="as-json")
    with pytest.raises(ConfigError, match='extra=.* is not a valid choice; expected one of "reject", "ignore"'):
        validate(SCHEMA, [GOOD], extra="drop")


def test_bytes_are_neither_numbers_nor_text_nor_booleans():
    assert [issue[:2] for issue in issues_of([GOOD | {"years": b"5", "city": b"austin", "remote": b"1"}])] == [
        (0, "city"), (0, "remote"), (0, "years")]


def test_decimals_are_numbers_and_decimal_nan_is_an_empty_number():
    from decimal import Decimal

    clean = validate(SCHEMA, [GOOD | {"count": Decimal("NaN"), "years": Decimal("2.5")}])
    assert math.isnan(clean["count"].iloc[0]) and clean["years"].iloc[0] == 2.5
    assert [issue[:2] for issue in issues_of([GOOD | {"years": Decimal("sNaN"), "city": Decimal("NaN")}])] == [
        (0, "city"), (0, "years")]


def test_multiindex_columns_are_refused_whatever_the_size():
    for rows in (1, 20, 2000):
        frame = pd.DataFrame([GOOD] * rows)
        frame.columns = pd.MultiIndex.from_arrays([frame.columns, ["x"] * len(frame.columns)])
        assert issues_of(frame) == [(None, "(columns)", "one level of column names", "2 levels")]
    repeated = pd.DataFrame([GOOD])
    repeated.columns = pd.MultiIndex.from_arrays([["years"] * 5, list("abcde")])
    assert issues_of(repeated) == [(None, "(columns)", "one level of column names", "2 levels")]


def test_a_long_unknown_field_name_is_cut_short():
    name = "x" * 1_000_000
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, [GOOD | {name: 1}])
    assert len(str(caught.value)) < 1000 and "(1000000 characters)" in str(caught.value)
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, pd.DataFrame([GOOD]).assign(**{name: 1}))
    assert len(str(caught.value)) < 1000


def issues_of_schema(schema, data, **options) -> list[tuple]:
    with pytest.raises(SchemaError) as caught:
        validate(schema, data, **options)
    return [(i.row, i.field, i.expected, i.got) for i in caught.value.issues]


def test_a_text_key_left_out_gets_the_marker_training_had_not_none():
    city = validate(NAN_ONLY, [{}, {"city": "austin"}])["city"].tolist()
    assert isinstance(city[0], float) and math.isnan(city[0]) and city[1] == "austin"


# -- a limit on the issues built: a million bad rows cost counting, not a million issues ------------------------

MIXED = [GOOD, {}, 42, GOOD | {"years": -1, "nickname": "x"}, GOOD | {"city": "paris", "remote": "maybe"},
         {"years": None, "level": "senior"}] * 7


@pytest.fixture
def issues_built(monkeypatch):
    """Count the issues the validator builds (each formats its value: what a million bad rows once cost)."""
    from mldeploy.validation import checks

    built = []

    def counted(*args):
        built.append(args)
        return Issue(*args)

    monkeypatch.setattr(checks, "Issue", counted)
    return built


@pytest.mark.parametrize("as_frame", [False, True])
def test_a_million_bad_rows_build_only_the_issues_kept_and_count_the_rest(issues_built, as_frame):
    rows = [{}] * 1_000_000 if not as_frame else pd.DataFrame({**GOOD, "years": np.full(1_000_000, -1.0), "city": "paris"})
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, rows, max_issues=1000)
    error = caught.value
    per_row = 3 if not as_frame else 2  # three required fields left out; or two bad values
    assert len(error.issues) == 1000 and error.total == per_row * 1_000_000 and error.is_truncated
    assert len(issues_built) <= len(SCHEMA.fields) * 1000  # at most the limit from each column, never one per row
    assert [(i.row, i.field) for i in error.issues[:per_row + 1]] == (
        [(0, "level"), (0, "remote"), (0, "years"), (1, "level")] if not as_frame else [(0, "city"), (0, "years"), (1, "city")])
    assert str(error).startswith(f"{per_row * 1_000_000} bad field(s), the first 1000 kept")


@pytest.mark.parametrize("as_frame", [False, True])
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_the_issues_kept_are_the_first_of_all_in_row_order_and_the_total_is_exact(limit, as_frame):
    data = pd.DataFrame([row for row in MIXED if isinstance(row, dict) and row]) if as_frame else MIXED
    with pytest.raises(SchemaError) as every:
        validate(SCHEMA, data)
    with pytest.raises(SchemaError) as limited:
        validate(SCHEMA, data, max_issues=limit)
    assert limited.value.issues == every.value.issues[:limit]
    assert limited.value.total == len(every.value.issues) and every.value.total is None


def test_a_new_unknown_key_in_every_row_is_counted_and_built_only_up_to_the_limit(issues_built):
    rows = [GOOD | {f"extra{index}": index} for index in range(20_000)]
    with pytest.raises(SchemaError) as caught:
        validate(SCHEMA, rows, max_issues=10)
    assert caught.value.total == 20_000 and [i.field for i in caught.value.issues] == [f"extra{i}" for i in range(10)]
    assert len(issues_built) == 10


def test_a_limited_error_survives_pickling():
    import pickle

    error = SchemaError([Issue(3, "age", "a number", '"x"')], total=7)
    again = pickle.loads(pickle.dumps(error))
    assert again.total == 7 and str(again) == str(error) and again.is_truncated
    assert SchemaError([Issue(3, "age", "a number", '"x"')], total=1).total is None  # nothing left out
