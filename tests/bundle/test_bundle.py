import json
import warnings

import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mldeploy.bundle import Bundle
from mldeploy.bundle import storage
from mldeploy.bundle.signing import generate_keypair
from mldeploy.errors import BundleError, BundleVersionWarning, UntrustedTypesError

import _bundles
import _models

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def salary_bundle(tmp_path_factory):
    return _bundles.salary_bundle_at(tmp_path_factory.mktemp("b") / "salary", metrics={"mae": 1.0})


def copy(bundle, tmp_path):
    return bundle.copy_to(tmp_path / "copy")


def test_bundle_holds_pipeline_schema_manifest_sample_and_profile(salary_bundle):
    files = set(salary_bundle.manifest.files)
    assert files == {"pipeline.skops", "schema.json", "sample.json", "profile.json"} | {f for f in files if f.startswith("compiled/")}
    m = salary_bundle.manifest
    assert (m.name, m.task, m.version, m.metrics) == ("salary", "regression", None, {"mae": 1.0})
    assert set(m.libraries) >= {"python", "scikit-learn", "numpy", "pandas", "skops"}
    assert len(m.data_fingerprint) == 64 and m.training_rows == 3000


def test_probes_learn_what_the_pipeline_accepts(salary_bundle):
    fields = salary_bundle.schema.by_name
    assert fields["performance_rating"].nullable and fields["city"].unseen == "accept"
    assert not fields["remote"].nullable  # passthrough flag: feature selection refuses NaN


def test_probes_on_a_strict_pipeline_refuse_nulls(tmp_path):
    pipeline, features = _models.strict_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="strict", directory=tmp_path / "b")
    assert [f.nullable for f in bundle.schema.fields] == [False, False]


def test_round_trip_through_an_archive_predicts_the_same(salary_bundle):
    pipeline, features = _models.salary_pipeline()
    again = Bundle.from_archive(salary_bundle.to_archive())
    assert again.digest == salary_bundle.digest
    assert (again.load_pipeline().predict(features) == pipeline.predict(features)).all()
    assert again.sample().dtypes.tolist() == features.dtypes.tolist()


def test_changed_file_is_refused(salary_bundle, tmp_path):
    bundle = copy(salary_bundle, tmp_path)
    (bundle.path / "schema.json").write_text(json.dumps(bundle.schema.to_dict()) + " ")
    with pytest.raises(BundleError, match="digest mismatch for schema.json"):
        Bundle.open(bundle.path)


def test_missing_file_is_refused(salary_bundle, tmp_path):
    bundle = copy(salary_bundle, tmp_path)
    (bundle.path / "pipeline.skops").unlink()
    with pytest.raises(BundleError, match="missing pipeline.skops"):
        Bundle.open(bundle.path)


def test_unlisted_file_is_refused(salary_bundle, tmp_path):
    bundle = copy(salary_bundle, tmp_path)
    (bundle.path / "extra.py").write_text("print('hi')")
    with pytest.raises(BundleError, match="does not list: extra.py"):
        Bundle.open(bundle.path)


def test_manifest_naming_a_file_outside_the_bundle_is_refused(salary_bundle, tmp_path):
    bundle = copy(salary_bundle, tmp_path)
    manifest = json.loads((bundle.path / storage.MANIFEST).read_text())
    manifest["files"]["../outside"] = "0" * 64
    (bundle.path / storage.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="names a file outside the bundle"):
        Bundle.open(bundle.path)


def test_signature_is_checked_when_a_public_key_is_given(salary_bundle, tmp_path):
    private, public = generate_keypair()
    _, other_public = generate_keypair()
    signed = copy(salary_bundle, tmp_path).sign(private)
    assert Bundle.open(signed.path, public_key=public).signature == signed.signature
    with pytest.raises(BundleError, match="signature does not match"):
        Bundle.open(signed.path, public_key=other_public)
    unsigned = salary_bundle.copy_to(tmp_path / "unsigned")
    with pytest.raises(BundleError, match="bundle is not signed"):
        Bundle.open(unsigned.path, public_key=public)


def test_signature_survives_the_registry_numbering_a_version(salary_bundle, tmp_path):
    private, public = generate_keypair()
    signed = copy(salary_bundle, tmp_path).sign(private)
    numbered = signed.copy_to(tmp_path / "numbered", version=4)
    assert Bundle.open(numbered.path, public_key=public).version == 4


def test_changed_manifest_of_a_signed_bundle_is_refused(salary_bundle, tmp_path):
    private, public = generate_keypair()
    signed = copy(salary_bundle, tmp_path).sign(private)
    manifest = json.loads((signed.path / storage.MANIFEST).read_text())
    manifest["metrics"] = {"mae": 0.0}
    (signed.path / storage.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="signature does not match"):
        Bundle.open(signed.path, public_key=public)


def test_custom_transformer_needs_to_be_trusted_by_name(tmp_path):
    pipeline, features = _models.custom_pipeline()
    with pytest.raises(UntrustedTypesError, match="make the bundle with trusted=\\['custom_features.ExperienceRatio'\\]") as made:
        Bundle.from_pipeline(pipeline, features, name="custom", directory=tmp_path / "refused")
    assert made.value.types == ("custom_features.ExperienceRatio",) and not (tmp_path / "refused").exists()
    bundle = Bundle.from_pipeline(pipeline, features, name="custom", directory=tmp_path / "b",
                                  trusted=("custom_features.ExperienceRatio",))
    with pytest.raises(BundleError, match="not trusted: custom_features.ExperienceRatio") as caught:
        bundle.load_pipeline()
    assert "trusted=['custom_features.ExperienceRatio']" in str(caught.value)
    loaded = bundle.load_pipeline(trusted=["custom_features.ExperienceRatio"])
    assert (loaded.predict(features) == pipeline.predict(features)).all()


def _with_sklearn_version(bundle, tmp_path, version):
    moved = copy(bundle, tmp_path)
    manifest = json.loads((moved.path / storage.MANIFEST).read_text())
    manifest["libraries"]["scikit-learn"] = version
    (moved.path / storage.MANIFEST).write_text(json.dumps(manifest))
    return Bundle.open(moved.path)


def test_other_minor_scikit_learn_version_warns(salary_bundle, tmp_path):
    bundle = _with_sklearn_version(salary_bundle, tmp_path, "1.0.2")
    with pytest.warns(BundleVersionWarning, match="made with scikit-learn 1.0.2"):
        bundle.load_pipeline()


def test_other_major_scikit_learn_version_is_refused_unless_forced(salary_bundle, tmp_path):
    bundle = _with_sklearn_version(salary_bundle, tmp_path, "0.24.2")
    with pytest.raises(BundleError, match="made with scikit-learn 0.24.2.*allow_version_mismatch=True"):
        bundle.load_pipeline()
    with pytest.warns(BundleVersionWarning):
        bundle.load_pipeline(allow_version_mismatch=True)


def test_unfitted_pipeline_and_empty_sample_are_refused():
    pipeline, features = _models.strict_pipeline()
    with pytest.raises(BundleError, match="not fitted"):
        Bundle.from_pipeline(make_pipeline(StandardScaler(), Ridge()), features, name="x")
    with pytest.raises(BundleError, match="non-empty DataFrame"):
        Bundle.from_pipeline(pipeline, pd.DataFrame(), name="x")


def test_classifier_bundle_records_classes(tmp_path):
    pipeline, features = _models.iris_like_classifier()
    bundle = Bundle.from_pipeline(pipeline, features, name="tiers", directory=tmp_path / "b")
    assert bundle.manifest.task == "classification"
    assert bundle.schema.output.classes == ("high", "low", "mid")


def test_every_file_is_checked_as_it_is_read_not_only_when_opened(salary_bundle, tmp_path):
    opened = Bundle.open(copy(salary_bundle, tmp_path).path)
    for name in ("sample.json", "profile.json"):
        (opened.path / name).write_text('{"rows": []}')
    with pytest.raises(BundleError, match="digest mismatch for sample.json"):
        opened.sample()
    with pytest.raises(BundleError, match="digest mismatch for profile.json"):
        opened.profile()


def test_ordinary_scikit_learn_pipelines_load_under_the_default_trust(tmp_path):
    import numpy as np
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"a": rng.normal(size=200), "c": rng.choice(["x", "y"], 200)})
    target = features["a"] + (features["c"] == "x")
    categorical = make_pipeline(make_column_transformer((OrdinalEncoder(), ["c"]), remainder="passthrough"),
                                HistGradientBoostingRegressor(categorical_features=[0], max_iter=10))
    selected = make_pipeline(make_column_transformer((OneHotEncoder(), make_column_selector(dtype_include=object)),
                                                     (StandardScaler(), make_column_selector(dtype_include=np.number))),
                             Ridge())
    for index, pipeline in enumerate((categorical, selected)):
        pipeline.fit(features, target)
        bundle = Bundle.from_pipeline(pipeline, features, name="t", directory=tmp_path / str(index), compile=False)
        assert (bundle.load_pipeline().predict(features) == pipeline.predict(features)).all()


def test_pipelines_load_one_at_a_time_across_threads(salary_bundle, monkeypatch):
    """numpy parses each array header with ast, which CPython 3.11 cannot do in two threads at once
    (a canary's load beside its champion's failed with "AST constructor recursion depth mismatch")."""
    import threading
    import time

    import skops.io

    loading, most = [0], [0]
    counted = threading.Lock()
    real_loads = skops.io.loads

    def slow_loads(*args, **kwargs):
        with counted:
            loading[0] += 1
            most[0] = max(most[0], loading[0])
        time.sleep(0.05)  # long enough for the other threads to arrive while this one loads
        try:
            return real_loads(*args, **kwargs)
        finally:
            with counted:
                loading[0] -= 1

    monkeypatch.setattr(skops.io, "loads", slow_loads)
    threads = [threading.Thread(target=salary_bundle.load_pipeline) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
