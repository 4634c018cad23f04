"""Bundle creation probes the pipeline: empty markers, unseen values, the ends of ranges."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mldeploy.bundle import Bundle
from mldeploy.validation.checks import validate
from mldeploy.errors import SchemaError

pytestmark = pytest.mark.timeout(120)


def mixed_markers(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A text column with 6% None and 4% NaN, as the issue's case."""
    rng = np.random.default_rng(seed)
    c1 = rng.choice(["a", "b", "c"], rows).astype(object)
    r = rng.random(rows)
    c1[r < 0.06] = None
    c1[(r >= 0.06) & (r < 0.10)] = np.nan
    x = rng.normal(size=rows)
    return pd.DataFrame({"c1": c1, "x": x}), ((x + (c1 == "a") - (c1 == None)) > 0.3).astype(int)  # noqa: E711


def test_none_and_nan_are_probed_apart():
    frame, y = mixed_markers()
    ohe_error = make_column_transformer((OneHotEncoder(handle_unknown="error"), ["c1"]), (StandardScaler(), ["x"]))
    nan_only = frame.assign(c1=frame["c1"].where(frame["c1"].notna(), np.nan))
    pipeline = make_pipeline(ohe_error, LogisticRegression()).fit(nan_only, y)
    schema = Bundle.from_pipeline(pipeline, nan_only, name="t", compile=False).schema
    field = schema.by_name["c1"]
    assert (field.nulls, field.nullable, field.unseen) == (("nan",), True, "reject")
    with pytest.raises(SchemaError, match="empty only as NaN: the pipeline refuses None here"):
        validate(schema, [{"c1": None, "x": 0.0}])
    assert validate(schema, [{"c1": None, "x": 0.0}], missing="as-trained")["c1"].isna().all()


def test_a_range_end_the_pipeline_refuses_is_narrowed():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.uniform(2, 400, 300)})
    pipeline = make_pipeline(FunctionTransformer(np.log), LinearRegression()).fit(frame, np.log(frame["size"]))
    schema = Bundle.from_pipeline(pipeline, frame, name="t", compile=False).schema
    size = schema.by_name["size"]
    assert 0 < size.minimum < frame["size"].min() and size.maximum > frame["size"].max()
    with pytest.raises(SchemaError, match='row 0, field "size": expected a number in'):
        validate(schema, [{"size": 0.0}])


def test_many_texts_the_pipeline_knows_all_of_become_a_category():
    values = [f"v{i}" for i in range(1200)]
    frame = pd.DataFrame({"name": values * 2, "x": np.arange(2400.0)})
    ohe = make_column_transformer((OneHotEncoder(handle_unknown="error"), ["name"]), (StandardScaler(), ["x"]))
    pipeline = make_pipeline(ohe, LinearRegression()).fit(frame, frame["x"])
    schema = Bundle.from_pipeline(pipeline, frame, name="t", compile=False).schema
    assert schema.by_name["name"].type == "category" and len(schema.by_name["name"].categories) == 1200
    with pytest.raises(SchemaError, match='row 0, field "name": expected one of'):
        validate(schema, [{"name": "never seen", "x": 1.0}])


def test_a_text_column_that_accepts_unseen_values_stays_text():
    values = [f"v{i}" for i in range(1200)]
    frame = pd.DataFrame({"name": values, "x": np.arange(1200.0)})
    ohe = make_column_transformer((make_pipeline(SimpleImputer(strategy="constant", fill_value="?"),
                                                 OneHotEncoder(handle_unknown="ignore")), ["name"]), (StandardScaler(), ["x"]))
    pipeline = make_pipeline(ohe, LinearRegression()).fit(frame, frame["x"])
    field = Bundle.from_pipeline(pipeline, frame, name="t", compile=False).schema.by_name["name"]
    assert (field.type, field.unseen, field.categories) == ("string", "accept", None)


def test_probe_answers_do_not_depend_on_the_suspects_named():
    from mldeploy.bundle.probing import probe_schema
    from mldeploy.bundle.schema import Schema

    frame, y = mixed_markers()
    frame = frame.assign(size=np.random.default_rng(1).uniform(2, 400, len(frame)))
    strict = make_column_transformer((OneHotEncoder(handle_unknown="error"), ["c1"]), (StandardScaler(), ["x"]),
                                     (FunctionTransformer(np.log), ["size"]))
    pipeline = make_pipeline(strict, LogisticRegression()).fit(frame.assign(c1=frame["c1"].fillna("?")), y)
    start = Schema.from_sample(frame, "classification", [0, 1], None)
    blind = probe_schema(pipeline, start, frame)
    assert not blind.by_name["c1"].nullable and blind.by_name["size"].minimum > 0  # refusals were found
    for suspect in (lambda rows: range(len(rows)), lambda rows: [], lambda rows: [0, 2, len(rows) + 5]):
        assert probe_schema(pipeline, start, frame, suspect) == blind


def test_garbage_collection_pauses_while_a_bundle_is_made_and_comes_back_as_it_was(monkeypatch):
    import gc

    import _models
    from mldeploy.bundle import build

    pipeline, features = _models.strict_pipeline()
    seen: list[bool] = []
    probe = build.probe_schema
    monkeypatch.setattr(build, "probe_schema", lambda *a, **k: (seen.append(gc.isenabled()), probe(*a, **k))[1])
    Bundle.from_pipeline(pipeline, features, name="t", compile=False)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        Bundle.from_pipeline(pipeline, features, name="t", compile=False)
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
    with pytest.raises(Exception, match="sample must be a non-empty DataFrame"):
        Bundle.from_pipeline(pipeline, features.iloc[:0], name="t")
    assert gc.isenabled()
