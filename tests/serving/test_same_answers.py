"""Every path gives pipeline.predict's exact answer or a SchemaError, whatever the DataFrame.

Frames of every dtype (numpy, nullable, pyarrow, categorical), None/NaN/pd.NA
mixes, MultiIndex, repeated and reordered columns go through every path: one
dict, a few rows (row by row), a batch (column by column), a large batch (bulk),
the compiled form and scikit-learn. The answer is scikit-learn's on the same
input, bit for bit, or a SchemaError; never another exception.
"""

import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from _examples import examples
from mldeploy.bundle import Bundle
from mldeploy.errors import SchemaError
from mldeploy.serving.model import Model

pytestmark = pytest.mark.timeout(300)

COLUMNS = ["num", "count", "flag", "city", "level"]
CITIES = ["austin", "boston", "chicago"]


def training_frame(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Training data whose text column mixes None (6%) and NaN (4%), as the issue's case."""
    rng = np.random.default_rng(seed)
    city = rng.choice(CITIES, rows).astype(object)
    r = rng.random(rows)
    city[r < 0.06] = None
    city[(r >= 0.06) & (r < 0.10)] = np.nan
    num = rng.normal(50, 10, rows)
    num[rng.random(rows) < 0.05] = np.nan
    frame = pd.DataFrame({
        "num": num, "count": rng.integers(0, 20, rows), "flag": rng.random(rows) < 0.5,
        "city": city, "level": rng.choice(["junior", "senior"], rows).astype(object),
    })
    target = np.nan_to_num(num) / 10 + frame["count"] + 3 * (city == "austin") - 2 * pd.isna(city) + frame["flag"]
    return frame, target.to_numpy(dtype=float)


def _preprocess():
    return make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["num", "count", "flag"]),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore")), ["city"]),
        (OneHotEncoder(handle_unknown="ignore"), ["level"]),
    )


@pytest.fixture(scope="module")
def models():
    """(pipeline, [compiled Model, scikit-learn Model]) for a regressor and a classifier."""
    frame, target = training_frame()
    fitted = [
        make_pipeline(_preprocess(), HistGradientBoostingRegressor(max_iter=15, random_state=0)).fit(frame, target),
        make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(frame, target > np.median(target)),
    ]
    out = []
    for pipeline in fitted:
        bundle = Bundle.from_pipeline(pipeline, frame, name="t")
        out.append((pipeline, [Model(bundle), Model(bundle, use_compiled=False)]))
    assert [m[1][0].path.value for m in out] == ["compiled", "compiled"], [m[1][0].explain_plan() for m in out]
    return frame, out


def test_training_rows_mixing_none_and_nan_get_scikit_learns_answers(models):
    frame, fitted = models
    for pipeline, serving in fitted:
        expected = pipeline.predict(frame)
        for model in serving:
            for rows in (1, 5, 100, len(frame)):  # one row, row by row, column by column, bulk
                np.testing.assert_array_equal(model.predict(frame.head(rows)), expected[:rows])
            np.testing.assert_array_equal(model.predict(frame.to_dict("records")), expected)
            assert model.predict(frame.iloc[3].to_dict()) == expected[3]


VALID = {
    "num": st.floats(30, 70), "count": st.integers(0, 19), "flag": st.booleans(),
    "city": st.sampled_from(CITIES), "level": st.sampled_from(["junior", "senior"]),
}
EDGES = {  # a few of these go into each frame, so that whole frames pass often enough to compare answers
    "num": st.sampled_from([None, np.nan, -1.0, 500.0, "55.5", " 41 ", b"5", "ten", np.float32(45.5), 45,
                            Decimal("52.5"), Decimal("NaN")]),  # Decimal("sNaN") breaks pandas itself (tests/validation/test_checks.py)
    "count": st.sampled_from([None, np.nan, 38, 2.5, "7", 3.0, True]),
    "flag": st.sampled_from([None, np.nan, 1, 0, "yes", 2]),
    "city": st.sampled_from([None, np.nan, pd.NA, "lisbon", "", 5, b"austin", Decimal("NaN")]),
    "level": st.sampled_from([None, np.nan, "principal"]),
}
DTYPES = {  # the dtypes a column may arrive in; "as generated" keeps pandas' own inference
    "num": [None, "float64", "object", "Float64", "double[pyarrow]"],
    "count": [None, "float64", "object", "Int64", "int64[pyarrow]"],
    "flag": [None, "object", "boolean", "bool[pyarrow]"],
    "city": [None, "object", "category", "string", "string[pyarrow]"],
    "level": [None, "object", "category", "string[pyarrow]"],
}


@st.composite
def frames(draw):
    rows = draw(st.integers(1, 20))
    data = {name: draw(st.lists(VALID[name], min_size=rows, max_size=rows)) for name in COLUMNS}
    for row, name in draw(st.lists(st.tuples(st.integers(0, rows - 1), st.sampled_from(COLUMNS)), max_size=3)):
        data[name][row] = draw(EDGES[name])
    frame = pd.DataFrame({name: _column(values, draw(st.sampled_from(DTYPES[name]))) for name, values in data.items()})
    frame = pd.concat([frame] * draw(st.sampled_from([1, 1, 1, 60])), ignore_index=True)  # up to 1,200 rows: bulk
    shape = draw(st.sampled_from(["plain"] * 6 + ["reordered", "multiindex", "repeated", "extra"]))
    if shape == "reordered":
        frame = frame[list(reversed(COLUMNS))]
    elif shape == "multiindex":
        frame.columns = pd.MultiIndex.from_arrays([frame.columns, ["a"] * len(frame.columns)])
    elif shape == "repeated":
        frame = pd.concat([frame, frame[["city"]]], axis=1)
    elif shape == "extra":
        frame = frame.assign(note="x")
    return frame


def _column(values: list, dtype: str | None) -> pd.Series:
    if dtype == "object":
        return pd.Series(values, dtype=object)
    try:
        series = pd.Series(values)
        return series if dtype is None else series.astype(dtype)
    except (TypeError, ValueError):  # a value this dtype cannot hold: keep the values as given
        return pd.Series(values, dtype=object)


def _reference(pipeline, frame: pd.DataFrame):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return np.asarray(pipeline.predict(frame))
    except Exception:  # scikit-learn refuses this input: any answer or a SchemaError will do
        return None


def _served(model, data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(model.predict(data))
    except SchemaError:
        return "refused"


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=frames(), which=st.integers(0, 1), as_records=st.booleans())
def test_every_path_gives_scikit_learns_answer_or_a_schema_error(models, frame, which, as_records):
    pipeline, serving = models[1][which]
    expected = _reference(pipeline, frame)
    data = frame
    if as_records and isinstance(frame.columns, pd.Index) and frame.columns.is_unique and not isinstance(frame.columns, pd.MultiIndex):
        data = frame.astype(object).to_dict("records")  # each value as the frame held it
        expected = _reference(pipeline, pd.DataFrame({c: pd.Series([r[c] for r in data], dtype=object) for c in frame.columns}))
    for model in serving:
        got = _served(model, data)
        if expected is not None and not isinstance(got, str):
            np.testing.assert_array_equal(got, expected, err_msg=f"{model.path.value} on {len(frame)} rows")
