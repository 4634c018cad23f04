"""One call from a table to a registered, aliased version."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from mldeploy import load
from mldeploy.errors import ConfigError, UntrustedTypesError
from mldeploy.ops import train_and_register
from mldeploy.registry import Registry

pytestmark = pytest.mark.timeout(120)


def _houses(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    area = rng.uniform(30, 200, rows)
    return pd.DataFrame({"listing_id": [f"L{i}" for i in range(rows)], "area": area, "rooms": rng.integers(1, 6, rows),
                         "price": area * 3000 + rng.normal(0, 20_000, rows)})


def test_train_and_register_sets_the_alias_and_leaves_out_dropped_columns(tmp_path):
    phrases = []
    with Registry(root=tmp_path / "registry") as registry:
        ref, result = train_and_register(_houses(), "price", name="houses", registry=registry, alias="staging",
                                         drop=["listing_id"], factory=LinearRegression, progress=phrases.append)
        assert (str(ref), registry.resolve("houses:staging")) == ("houses@1", ref)
        model = load("houses:staging", registry=registry)
    assert [f.name for f in model.schema.fields] == ["area", "rooms"]
    assert result.task == "regression" and result.metrics["r2"] > 0.5 and result.warnings == ()
    assert phrases == ["training on 400 rows", "bundling and verifying"]


def test_a_bad_alias_costs_no_training_and_registers_nothing(tmp_path):
    with Registry(root=tmp_path / "registry") as registry:
        with pytest.raises(ConfigError):
            train_and_register(_houses(), "price", registry=registry, alias="no good", drop=["listing_id"])
        assert registry.models() == []


def test_every_type_a_load_must_trust_is_listed_at_once(tmp_path):
    from sklearn.neighbors import KNeighborsRegressor

    needed = ("sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.neighbors._kd_tree.KDTree")
    with Registry(root=tmp_path / "registry") as registry:
        with pytest.raises(UntrustedTypesError) as caught:  # at creation, not at the first load elsewhere
            train_and_register(_houses(), "price", registry=registry, features=["area", "rooms"], factory=KNeighborsRegressor)
        assert caught.value.types == needed and registry.models() == []
        ref, result = train_and_register(_houses(), "price", registry=registry, features=["area", "rooms"],
                                         factory=KNeighborsRegressor, trusted=needed)
        assert result.warnings == () and load(str(ref), registry=registry, trusted=needed).predict({"area": 80.0, "rooms": 3})
