"""What a bundle records of its pipeline stays as it was when creation was made faster.

``build_unchanged.json`` holds, for a few pipelines, the schema, the compiled
entry of the manifest (plan, verification summary, engines), the full
verification report, and the digests of every file whose bytes are
deterministic (``pipeline.skops`` is a zip stamped with the time), as produced
by the code before bundle creation was sped up (commit 3483022). Regenerate it
only for a change meant to alter them, or for another set of libraries or BLAS kernels (the test
skips on those), with the code of 3483022: ``.venv/bin/python tests/bundle/test_build_unchanged.py``.
Recorded again on 2026-12-06 on a machine with SciPy 1.17.1, where 3483022 and main made the same
records (the first recording's machine had made other last bits in the linear models' fits).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script, too
import _models  # noqa: E402
from mldeploy.bundle import Bundle  # noqa: E402
from mldeploy.compiled import compile_pipeline  # noqa: E402
from mldeploy.examples import salary  # noqa: E402
from mldeploy.ops.training import default_pipeline  # noqa: E402

pytestmark = pytest.mark.timeout(300)

_EXPECTED = Path(__file__).with_name("build_unchanged.json")
_TIME_STAMPED = {"pipeline.skops"}


def _salary_regressor():
    """The tour's case: the default salary pipeline on 2,000 rows."""
    train = salary.generate(rows=2_000, seed=7)
    features = train.drop(columns=salary.TARGET)
    return salary.default_pipeline().fit(features, train[salary.TARGET]), features


def _salary_classifier():
    """The default pipeline as a classifier: probabilities are verified too."""
    train = salary.generate(rows=1_500, seed=3)
    features = train.drop(columns=salary.TARGET)
    label = np.where(train[salary.TARGET] > train[salary.TARGET].median(), "high", "low")
    return default_pipeline(salary.COLUMNS, task="classification", max_iter=30).fit(features, label), features


def _strict_linear():
    """Refuses unseen categories, nulls and the log of values <= 0: many refused probes and edge rows."""
    rng = np.random.default_rng(4)
    features = pd.DataFrame({
        "size": rng.uniform(2, 400, 600), "kind": rng.choice(["a", "b", "c"], 600).astype(object),
        "count": rng.integers(0, 9, 600),
    })
    encode = make_column_transformer(
        (FunctionTransformer(np.log, feature_names_out="one-to-one"), ["size"]),
        (OneHotEncoder(handle_unknown="error"), ["kind"]), (StandardScaler(), ["count"]))
    return make_pipeline(encode, LinearRegression()).fit(features, np.log(features["size"]) + features["count"]), features


def _imputed_logistic():
    """Imputes nulls and accepts unseen categories; a two-class linear model."""
    rng = np.random.default_rng(5)
    features = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["u", "v", None], 500).astype(object)})
    features.loc[features.index[::17], "x"] = np.nan
    encode = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), ["x"]),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore")), ["c"]))
    label = (features["x"].fillna(0) > 0).astype(int)
    return make_pipeline(encode, LogisticRegression()).fit(features, label), features


_CASES = {
    "salary regressor": _salary_regressor,
    "salary classifier": _salary_classifier,
    "strict linear": _strict_linear,
    "imputed logistic": _imputed_logistic,
    "strict ridge": _models.strict_pipeline,
}


def _record(pipeline, features: pd.DataFrame, folder: Path) -> dict:
    """What the bundle records of ``pipeline``, and the verification report in full."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bundle = Bundle.from_pipeline(pipeline, features, name="unchanged", directory=folder)
        report = compile_pipeline(pipeline, features).report
    manifest = bundle.manifest
    return json.loads(json.dumps({
        "schema": json.loads((bundle.path / "schema.json").read_text()),
        "compiled": manifest.compiled,
        "task": manifest.task,
        "training_rows": manifest.training_rows,
        "data_fingerprint": manifest.data_fingerprint,
        "files": {name: digest for name, digest in sorted(manifest.files.items()) if name not in _TIME_STAMPED},
        "file_names": sorted(manifest.files),
        "report": None if report is None else {
            "ok": report.ok, "rows": report.rows, "exact_rows": report.exact_rows,
            "max_relative_error": report.max_relative_error, "refused_rows": report.refused_rows,
            "skipped_rows": report.skipped_rows, "failures": report.failures, "engines": report.engines,
        },
    }))  # as JSON, like the recorded copy


def _versions() -> dict:
    """What the recorded numbers depend on: the libraries, and the BLAS kernels that fit and predict.

    SciPy's solvers fit the linear models, and the BLAS build picks its kernels by processor, so a
    fitted coefficient's last bit, and the digests of every file made from it, move with either.
    """
    import scipy
    import scipy.linalg  # noqa: F401 - loads SciPy's own BLAS, so it is listed
    import skops
    from threadpoolctl import threadpool_info

    blas = sorted({f"{pool['internal_api']} {pool['version']} {pool.get('architecture')}"
                   for pool in threadpool_info() if pool["user_api"] == "blas"})
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "skops": skops.__version__, "scipy": scipy.__version__, "blas": blas}


@pytest.fixture(scope="module")
def expected() -> dict:
    recorded = json.loads(_EXPECTED.read_text())
    if recorded["versions"] != _versions():  # predictions, and so digests, belong to one set of libraries
        pytest.skip(f"recorded with {recorded['versions']}, running {_versions()}")
    return recorded["cases"]


@pytest.mark.parametrize("case", sorted(_CASES))
def test_bundle_records_what_it_did_before(case, expected, tmp_path) -> None:
    pipeline, features = _CASES[case]()
    assert _before_the_c_walker(_record(pipeline, features, tmp_path / "bundle")) == expected[case]


def _before_the_c_walker(record: dict) -> dict:
    """The record as the recorded code made it: the C tree walker ("native") came after, first among the engines."""
    compiled, report = record["compiled"], record["report"] or {}
    for engines in (compiled.get("engines"), report.get("engines")):
        if engines and "numba" in engines:
            assert engines[0] == "native", engines
            engines.remove("native")
    if "verified" in compiled:
        compiled["verified"] = compiled["verified"].replace("(native, numba, ", "(numba, ")
    return record


def _write_expected() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        cases = {case: _record(*make(), Path(scratch) / case.replace(" ", "-")) for case, make in _CASES.items()}
    _EXPECTED.write_text(json.dumps({"versions": _versions(), "cases": cases}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    _write_expected()
