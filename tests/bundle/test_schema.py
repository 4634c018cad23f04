import numpy as np
import pandas as pd
import pytest

from mldeploy.bundle.schema import Field, Output, Schema
from mldeploy.errors import BundleError

pytestmark = pytest.mark.timeout(60)


def _frame():
    return pd.DataFrame({
        "years": [0.0, 10.0, 20.0],
        "count": np.array([0, 4, 9], dtype="int64"),
        "city": ["a", None, "b"],
        "remote": [True, False, True],
        "temperature": [-5.0, 0.0, 5.0],
    })


def test_infer_gives_types_in_column_order():
    schema = Schema.from_sample(_frame(), "regression")
    assert schema.names == ["years", "count", "city", "remote", "temperature"]
    assert [f.type for f in schema.fields] == ["number", "integer", "category", "boolean", "number"]
    assert schema.by_name["city"].categories == ("a", "b")


def test_inferred_range_is_widened_and_never_negative_for_non_negative_fields():
    schema = Schema.from_sample(_frame(), "regression")
    years, count, temperature = (schema.by_name[n] for n in ("years", "count", "temperature"))
    assert (years.minimum, years.maximum) == (0.0, 30.0)
    assert count.minimum == 0.0 and count.maximum == float(np.ceil(9 + 4.5))
    assert temperature.minimum < -5 and temperature.maximum > 5


def test_given_ranges_override_inference():
    schema = Schema.from_sample(_frame(), "regression", ranges={"years": (0, 60)})
    assert schema.by_name["years"].expected() == "a number in [0, 60]"


def test_round_trip_through_dict():
    schema = Schema.from_sample(_frame(), "classification", classes=["x", "y"]).with_field("city", unseen="accept")
    again = Schema.from_dict(schema.to_dict())
    assert again == schema
    assert again.output == Output("classification", ("x", "y"))


def test_malformed_schema_is_refused_with_the_reason():
    with pytest.raises(BundleError, match="schema.json is malformed"):
        Schema.from_dict({"fields": [{"name": "x", "type": "complex"}], "output": {"task": "regression"}})


def test_mixed_text_and_numbers_in_one_column_is_refused():
    with pytest.raises(BundleError, match='column "mixed" mixes text'):
        Schema.from_sample(pd.DataFrame({"mixed": ["a", 1]}), "regression")


def test_expected_wording_lists_categories():
    field = Field("city", "category", categories=tuple("abcdefghij"))
    assert field.expected() == "one of [a, b, c, d, e, f, g, h, ...]"


def test_with_field_names_unknown_fields():
    schema = Schema.from_sample(_frame(), "regression")
    with pytest.raises(KeyError, match="no field"):
        schema.with_field("nope", nullable=False)


@pytest.mark.parametrize("change", [
    {"name": 5}, {"nullable": "yes"}, {"categories": "abc"}, {"categories": [1, 2]}, {"unseen": "maybe"},
    {"minimum": True}, {"maximum": "9"}, {"dtype": None}, {"text_null": "null"}, {"nulls": ["nan", "NA"]},
])
def test_a_malformed_field_in_schema_json_is_refused(change):
    good = {"name": "city", "type": "category", "categories": ["a"], "nulls": ["nan"]}
    assert Schema.from_dict({"fields": [good], "output": {"task": "regression"}}).by_name["city"].nulls == ("nan",)
    with pytest.raises(BundleError, match="schema.json is malformed"):
        Schema.from_dict({"fields": [good | change], "output": {"task": "regression"}})
    with pytest.raises(BundleError, match="schema.json is malformed"):
        Schema.from_dict({"fields": [good], "output": []})
