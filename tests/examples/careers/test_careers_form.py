"""The estimate form built from a salary bundle's schema: finite choices, fixed inputs, one wording for bad values."""

from __future__ import annotations

import pytest

import _models
from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError, SchemaError
from mldeploy.examples.careers.answer import Answer, estimate_of
from mldeploy.examples.careers.form import build_form


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    pipeline, features = _models.salary_pipeline()
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path_factory.mktemp("f") / "b", compile=False).schema


def test_every_field_is_a_choice_and_the_domain_is_counted(schema):
    form = build_form(schema, max_years=2, max_certifications=1)
    kinds = {f.name: f.kind for f in form.fields}
    assert kinds == {"job_family": "category", "level": "category", "city": "category", "education": "category",
                     "years_experience": "whole", "certifications": "whole", "remote": "boolean"}
    assert form.size == 10 * 6 * 10 * 5 * 3 * 2 * 2 == len(list(form.combinations()))
    assert len({form.key(values) for values in form.combinations()}) == form.size


def test_a_checked_answer_becomes_a_whole_model_row(schema):
    form = build_form(schema)
    values = form.check({"job_family": "sales", "level": "mid", "city": "austin", "education": "phd",
                         "years_experience": "7", "certifications": 2, "remote": "yes"})
    assert values["years_experience"] == 7 and values["remote"] is True
    row = form.row(values)
    assert row["age"] == 29 and row["company_size"] == 1200 and row["performance_rating"] is None
    assert set(row) == set(schema.names)
    assert form.key(values) == "sales|mid|austin|phd|7|2|true"


def test_the_offline_table_holds_every_answer_as_row_and_key_would_give_it(schema):
    form = build_form(schema, max_years=2, max_certifications=1)
    table = form.table("form_key")
    assert len(table) == form.size and table["form_key"].is_unique
    by_key = table.set_index("form_key")
    for values in list(form.combinations())[::97]:
        stored = by_key.loc[form.key(values)].to_dict()
        expected = form.row(values)
        assert stored["performance_rating"] != stored["performance_rating"] and expected["performance_rating"] is None
        del stored["performance_rating"], expected["performance_rating"]
        assert stored == expected


def test_every_bad_field_is_named_in_one_error(schema):
    form = build_form(schema, max_years=40)
    with pytest.raises(SchemaError) as raised:
        form.check({"job_family": "sales", "level": "", "city": "austin", "education": "phd",
                    "years_experience": 41, "certifications": True, "remote": "maybe"})
    issues = {i.field: (i.expected, i.got) for i in raised.value.issues}
    assert issues == {"level": ("one of [director, junior, mid, principal, senior, staff]", "nothing"),
                      "years_experience": ("a whole number in [0, 40]", "41"),
                      "certifications": ("a whole number in [0, 5]", "True"),
                      "remote": ("true or false", '"maybe"')}
    with pytest.raises(SchemaError, match="JSON object"):
        form.check(["not", "a", "form"])


def test_a_model_without_the_salary_fields_is_refused(schema):
    other = type(schema)(tuple(f for f in schema.fields if f.name != "city"), schema.output)
    with pytest.raises(ConfigError, match="the model has no field city"):
        build_form(other)


def test_the_range_comes_from_the_stored_residual_quantiles():
    answer = estimate_of(Answer(100_000.0, "salary", 3, {"residual_p10": -9_000.5, "residual_p90": 12_000.25}), "api")
    assert (answer.low, answer.estimate, answer.high) == (90_999.5, 100_000.0, 112_000.25)
    older = estimate_of(Answer(100_000.0, "salary", 1, {"mae": 1.0}), "embedded")
    assert older.low is None and older.high is None
