"""Input routing: each batch size takes its fast check, valid input never falls to the bulk validator,
and a path that refused everything would turn these tests red."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import pandas as pd

from _examples import examples
import _bundles
from mldeploy.errors import SchemaError
from mldeploy.validation.fast_columns import ColumnCleaner
from mldeploy.validation.fast_row import make_row_cleaner
from mldeploy.serving._inputs import InputRouter
from mldeploy.serving.model import Model

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return Model(_bundles.salary_bundle(tmp_path_factory.mktemp("inputs")))


@pytest.mark.parametrize("rows, form, kind", [
    (1, "dict", "records"), (8, "dicts", "records"), (8, "frame", "records"),
    (64, "dicts", "columns"), (64, "frame", "columns"), (1_024, "frame", "columns"), (2_000, "frame", "columns"),
    (2_000, "dicts", "columns"),
])
def test_each_batch_size_takes_its_check(model, rows, form, kind):
    frame = model.bundle.sample().sample(rows, replace=True, random_state=0).reset_index(drop=True)
    data = {"dict": lambda: _records(frame)[0], "dicts": lambda: _records(frame), "frame": lambda: frame}[form]()
    routed = model._router.route(data, "reject", "as-given")
    assert (routed.kind, routed.rows) == (kind, rows)


def test_without_a_compiled_form_everything_becomes_a_frame(model):
    router = InputRouter(model.schema, compiled=False)
    sample = model.bundle.sample()
    assert {router.route(d, "reject", "as-given").kind for d in (_records(sample)[0], _records(sample.head(64)), sample)} == {"frame"}


def test_a_bad_row_goes_to_the_bulk_validator_which_words_it(model):
    rows = _records(model.bundle.sample().head(64))
    rows[5]["age"] = "old"
    with pytest.raises(SchemaError, match='row 5, field "age"'):
        model._router.route(rows, "reject", "as-given")


def test_a_bad_value_in_a_large_frame_is_worded_by_the_bulk_validator_with_its_row(model):
    frame = model.bundle.sample().sample(3_000, replace=True, random_state=1).reset_index(drop=True)
    assert model._router.route(frame, "reject", "as-given").kind == "columns"
    frame["age"] = frame["age"].astype(object)
    frame.loc[2_500, "age"] = "old"
    with pytest.raises(SchemaError, match='row 2500, field "age"'):
        model._router.route(frame, "reject", "as-given")


def _valid_value(field):
    if field.type == "boolean":
        values = st.booleans()
    elif field.type in ("number", "integer"):
        low, high = field.minimum if field.minimum is not None else -1e6, field.maximum if field.maximum is not None else 1e6
        values = st.integers(int(-(-low // 1)), int(high // 1)) if field.type == "integer" else st.floats(low, high)
    else:
        values = st.sampled_from(list(field.categories or ["some text"]))
    return st.one_of(values, st.none()) if field.nullable else values


@st.composite
def _valid_rows(draw, schema, min_size, max_size):
    row = st.fixed_dictionaries({f.name: _valid_value(f) for f in schema.fields})
    return draw(st.lists(row, min_size=min_size, max_size=max_size))


@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_valid_rows_always_pass_the_fast_checks(model, data):
    schema = model.schema
    rows = data.draw(_valid_rows(schema, 1, 40))
    assert all(make_row_cleaner(schema)(row) is not None for row in rows), "the row check refused a valid row"
    assert ColumnCleaner(schema).clean_records(rows) is not None, "the column check refused valid rows"
    frame = pd.DataFrame.from_records(rows, columns=schema.names)
    assert ColumnCleaner(schema).clean_frame(frame) is not None, "the column check refused a valid frame"


def _records(frame):
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
