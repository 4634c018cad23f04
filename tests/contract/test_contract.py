"""One contract for every deployment architecture.

The same rows give the same predictions as the pipeline's own ``predict``
(to 1e-9 relative), and the same bad rows give the same SchemaError issues.
"""

import numpy as np
import pytest

from mldeploy.bundle import Bundle
from mldeploy.errors import SchemaError
from mldeploy.examples import salary

import _models
from adapters import ADAPTERS

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def salary_case(tmp_path_factory):
    pipeline, features = _models.salary_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path_factory.mktemp("c") / "b")
    drifted = salary.generate(60, seed=11, drift=0.6).drop(columns=salary.TARGET)
    return bundle, pipeline, drifted


def _records(frame):
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_same_predictions_as_the_pipeline(adapter, salary_case):
    bundle, pipeline, drifted = salary_case
    expected = pipeline.predict(drifted)
    got = ADAPTERS[adapter](bundle, _records(drifted))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)


BAD_ROWS_EDITS = [
    {"years_experience": "ten"},
    {"age": 12.5, "remote": "perhaps"},
    {"certifications": -3},
    {"weekly_hours": float("inf")},
    {"remote": None},
]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_same_schema_errors_for_bad_rows(adapter, salary_case):
    bundle, _, drifted = salary_case
    good = _records(drifted.head(len(BAD_ROWS_EDITS) + 1))
    rows = [good[0]] + [row | edit for row, edit in zip(good[1:], BAD_ROWS_EDITS)]
    if "one-by-one" in adapter:
        issues = []
        for index, row in enumerate(rows):
            try:
                ADAPTERS[adapter](bundle, [row])
            except SchemaError as error:
                issues += [(index, i.field, i.expected, i.got) for i in error.issues]
    else:
        with pytest.raises(SchemaError) as caught:
            ADAPTERS[adapter](bundle, rows)
        issues = [(i.row, i.field, i.expected, i.got) for i in caught.value.issues]
    assert issues == [
        (1, "years_experience", "a number in [0, 64.95]", '"ten"'),
        (2, "age", "a whole number in [0, 93]", "12.5"),
        (2, "remote", "true or false", '"perhaps"'),
        (3, "certifications", "a whole number in [0, 11]", "-3"),
        (4, "weekly_hours", "a finite number (a number in [10.05, 73.85])", "inf"),
        (5, "remote", "true or false (this field cannot be empty)", "null"),
    ]
