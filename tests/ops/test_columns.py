"""Choosing feature columns and catching typos in numeric columns before training."""

import numpy as np
import pandas as pd
import pytest

from mldeploy.errors import ConfigError
from mldeploy.ops.columns import check_numeric_text, choose_features, column_kinds_of

pytestmark = pytest.mark.timeout(30)


def _table(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": [f"L{i}" for i in range(rows)], "area": rng.uniform(20, 200, rows), "city": rng.choice(["a", "b"], rows), "price": rng.uniform(1, 9, rows)})


def test_drop_and_features_choose_the_columns():
    frame = _table()
    assert list(choose_features(frame, "price")) == ["id", "area", "city"]
    assert list(choose_features(frame, "price", drop=["id"])) == ["area", "city"]
    assert list(choose_features(frame, "price", features=["city", "area"], drop=["area"])) == ["city"]


def test_unknown_columns_and_the_target_as_a_feature_are_refused():
    frame = _table()
    with pytest.raises(ConfigError, match=r"column\(s\) 'ID', 'size' not in the data; columns are: id, area, city, price"):
        choose_features(frame, "price", drop=["ID"], features=["size"])
    with pytest.raises(ConfigError, match='the target "price" is also listed as a feature'):
        choose_features(frame, "price", features=["area", "price"])
    with pytest.raises(ConfigError, match="no feature columns are left"):
        choose_features(frame, "price", features=["area"], drop=["area"])


def test_stray_words_in_a_numeric_column_are_named_with_their_rows():
    frame = _table()
    frame["area"] = frame["area"].astype(object)
    frame.loc[[3, 17], "area"] = ["approx 120", "unknown"]
    with pytest.raises(ConfigError) as caught:
        check_numeric_text(frame)
    message = str(caught.value)
    assert message.startswith('column "area" holds numbers in 48 of 50 filled rows but 2 cell(s) are not numbers: ')
    assert "row 3 'approx 120', row 17 'unknown'" in message and "should they be empty?" in message and "--drop area" in message


def test_real_text_columns_and_numbers_as_text_pass():
    frame = _table()
    frame["zip"] = [f"{i:05d}" for i in range(50)]  # all parse: a coded column, not a typo
    check_numeric_text(frame)  # "id" and "city" are text through and through


def test_an_id_column_is_refused_with_the_drop_option_to_use():
    frame = pd.DataFrame({"listing_id": [f"L{i}" for i in range(300)]})
    with pytest.raises(ConfigError, match=r'column "listing_id" has 300 distinct text values; .* \(--drop listing_id\)'):
        column_kinds_of(frame)
