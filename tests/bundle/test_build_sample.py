"""Making a bundle checks its sample against the columns the pipeline was fitted on."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from mldeploy import Bundle
from mldeploy.errors import BundleError

pytestmark = pytest.mark.timeout(60)


def _fitted():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"id": np.arange(100), "area": rng.uniform(20, 200, 100), "rooms": rng.integers(1, 6, 100)})
    table["price"] = table["area"] * 3000 + table["rooms"] * 1000
    return LinearRegression().fit(table[["area", "rooms"]], table["price"]), table


def test_a_sample_with_the_target_and_an_id_is_refused_with_the_difference():
    pipeline, table = _fitted()
    with pytest.raises(BundleError) as caught:
        Bundle.from_pipeline(pipeline, sample=table, name="houses")
    assert str(caught.value).startswith(
        "the sample's columns differ from those the pipeline was fitted on: not fitted on 'id', 'price' (the target? an id?);"
    )


def test_a_sample_missing_a_column_is_refused():
    pipeline, table = _fitted()
    with pytest.raises(BundleError, match="missing 'rooms'"):
        Bundle.from_pipeline(pipeline, sample=table[["area"]], name="houses")


def test_a_sample_in_another_column_order_is_put_in_the_fitted_order():
    pipeline, table = _fitted()
    bundle = Bundle.from_pipeline(pipeline, sample=table[["rooms", "area"]], name="houses")
    assert [field.name for field in bundle.schema.fields] == ["area", "rooms"]
