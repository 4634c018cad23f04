"""`mldeploy train` refuses ordinary table mistakes at once and says what to do."""

import sys

import numpy as np
import pandas as pd
import pytest
from _cli import run


pytestmark = pytest.mark.timeout(120)

_LINEAR = "sklearn.linear_model:LinearRegression"  # a quick fit: these tests are about the table checks


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = 600
    area = rng.uniform(30, 200, rows)
    frame = pd.DataFrame({"listing_id": [f"L{i:05d}" for i in range(rows)], "area": area, "bedrooms": rng.integers(1, 6, rows),
                          "price": area * 3000 + rng.normal(0, 20_000, rows)})
    path = tmp_path_factory.mktemp("houses") / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def test_an_id_as_target_is_refused_in_one_line(capsys, houses, tmp_path):
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "train", "--data", str(houses), "--target", "listing_id")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith('error: target "listing_id" has 600 distinct values in 600 rows, too many classes to learn')
    assert not (tmp_path / "r").exists()  # refused before any registry was made


def test_drop_features_and_task_choose_what_is_trained(capsys, houses, tmp_path):
    registry = str(tmp_path / "r")
    code, out, err = run(capsys, "--registry", registry, "train", "--data", str(houses), "--target", "bedrooms",
                         "--features", "area,price", "--task", "regression", "--name", "rooms", "--pipeline", _LINEAR)
    assert code == 0, err
    assert "registered rooms@1 (regression)" in out and "r2=" in out
    code, out, _ = run(capsys, "--registry", registry, "show", "rooms@1")
    assert "listing_id" not in out and "area" in out


def test_an_unknown_task_is_refused_before_reading(capsys, houses, tmp_path):
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "train", "--data", str(houses), "--target", "price", "--task", "regress")
    assert (code, err.strip()) == (2, 'error: task=\'regress\' is not a valid choice; expected one of "regression", "classification"')


def test_a_leaking_feature_is_warned_about(capsys, houses, tmp_path):
    frame = pd.read_csv(houses)
    frame["sold_price"] = frame["price"].round(-3)
    frame.to_csv(tmp_path / "leaky.csv", index=False)
    code, out, err = run(capsys, "--registry", str(tmp_path / "r"), "train", "--data", str(tmp_path / "leaky.csv"), "--target", "price",
                         "--drop", "listing_id", "--pipeline", _LINEAR)
    assert code == 0 and "registered price@1" in out
    assert 'warning: feature "sold_price" alone predicts the target' in err and "--drop sold_price" in err


def test_a_pipeline_module_in_the_current_folder_is_found(capsys, houses, tmp_path, monkeypatch):
    (tmp_path / "first_day_pipes.py").write_text(
        "from sklearn.linear_model import Ridge\n\ndef make_ridge():\n    return Ridge()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_factory puts the folder on the path; undo it after
    monkeypatch.delitem(sys.modules, "first_day_pipes", raising=False)
    code, out, err = run(capsys, "--registry", str(tmp_path / "r"), "train", "--data", str(houses), "--target", "price",
                         "--features", "area,bedrooms", "--pipeline", "first_day_pipes:make_ridge")
    assert code == 0, err
    assert "registered price@1 (regression)" in out
