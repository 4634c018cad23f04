"""The training profile a bundle carries: bins and a sketch per number, frequencies per category, the predictions."""

import numpy as np
import pandas as pd
import pytest

import _models
from mldeploy.bundle import Bundle
from mldeploy.bundle.profile import PSI_BINS, SKETCH_POINTS, bin_counts, profile_frame
from mldeploy.errors import BundleError

pytestmark = pytest.mark.timeout(120)


def test_numbers_get_decile_bins_and_a_quantile_sketch():
    values = pd.Series(np.random.default_rng(0).normal(size=10_000))
    column = profile_frame(pd.DataFrame({"x": values}))["columns"]["x"]
    edges, shares = column["bins"]["edges"], column["bins"]["shares"]
    assert len(edges) == PSI_BINS - 1 and len(shares) == PSI_BINS and sum(shares) == pytest.approx(1.0)
    assert max(shares) - min(shares) < 0.01  # deciles: a tenth each
    assert len(column["sketch"]) == SKETCH_POINTS and column["sketch"] == sorted(column["sketch"])
    assert (column["sketch"][0], column["sketch"][-1]) == (values.min(), values.max())


def test_a_value_on_an_edge_falls_in_the_bin_below_it():
    assert bin_counts(np.array([1.0, 2.0]), np.array([0.5, 1.0, 1.5, 2.0, 9.0])).tolist() == [2.0, 2.0, 1.0]


def test_categories_keep_the_top_frequencies_and_the_share_of_the_rest():
    frame = pd.DataFrame({"c": [f"v{i % 60}" for i in range(600)] + [None] * 60})
    column = profile_frame(frame)["columns"]["c"]
    assert len(column["frequencies"]) == 50 and column["other_share"] == pytest.approx(10 / 60)
    assert column["distinct"] == 60 and column["null_share"] == pytest.approx(60 / 660)


def test_a_bundle_profiles_its_own_predictions_and_digests_extra_files(tmp_path):
    pipeline, features = _models.salary_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path / "b",
                                  extra_files={"notes.json": b"{}"})
    predicted = bundle.profile()["prediction"]
    assert predicted["quantiles"]["0.5"] == pytest.approx(float(np.median(pipeline.predict(features))))
    assert "notes.json" in bundle.manifest.files and bundle.read_file("notes.json") == b"{}"


@pytest.mark.parametrize("name", ["manifest.json", "profile.json", "../up", "a/b", ".hidden", ""])
def test_an_extra_file_may_not_take_a_bundle_name_or_leave_the_folder(tmp_path, name):
    pipeline, features = _models.strict_pipeline()
    with pytest.raises(BundleError, match="extra file name"):
        Bundle.from_pipeline(pipeline, features, name="strict", directory=tmp_path / "b", extra_files={name: b"x"})
    assert not (tmp_path / "b").exists()


def test_bin_counts_put_each_value_in_the_bin_searchsorted_names():
    from mldeploy.bundle.profile import bin_counts

    edges = np.array([-1.0, 0.0, 0.0, 2.5, 7.0])  # a repeated edge, as deciles of a lumpy column give
    values = np.array([-np.inf, -5.0, -1.0, -0.5, 0.0, 0.0, 1.0, 2.5, 2.6, 7.0, 9.0, np.inf])
    expected = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    assert bin_counts(edges, values).tolist() == expected.astype(float).tolist()
    assert bin_counts(edges, np.empty(0)).tolist() == [0.0] * 6


def test_quantiles_bins_and_sketch_are_each_quantile_asked_alone():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.standard_cauchy(997), [1e-300, 1e-300, 7.0]])
    summary = profile_frame(pd.DataFrame({"x": values}))["columns"]["x"]
    quantiles = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
    assert list(summary["quantiles"].values()) == np.quantile(values, quantiles).tolist()
    assert summary["bins"]["edges"] == np.unique(np.quantile(values, np.linspace(0, 1, PSI_BINS + 1)[1:-1])).tolist()
    assert summary["sketch"] == np.quantile(values, np.linspace(0, 1, SKETCH_POINTS)).tolist()
