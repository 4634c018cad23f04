"""The key pre-check: a missing column or a repeated key is refused before anything is written."""

import pandas as pd
import pytest

from mldeploy.batch.keys import check_keys
from mldeploy.batch.input_tables import open_input
from mldeploy.errors import ConfigError

pytestmark = pytest.mark.timeout(60)


def _source(tmp_path, keys, suffix=".parquet"):
    frame = pd.DataFrame({"id": keys, "x": range(len(keys))})
    path = tmp_path / f"in{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    return open_input(path)


def test_unique_keys_pass_and_missing_keys_are_counted(tmp_path):
    check = check_keys(_source(tmp_path, ["a", None, "b", "c"]), "id")
    assert (check.rows, check.missing_keys) == (4, 1)


def test_repeated_keys_are_named_with_their_rows(tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_keys(_source(tmp_path, [5, 7, 5, 9, 7, 5], ".csv"), "id")
    assert 'key column "id" repeats 2 key(s): "5" at rows 0, 2, 5; "7" at rows 1, 4' in str(caught.value)
    assert "nothing was written" in str(caught.value)


def test_repeated_integer_keys_in_parquet(tmp_path):
    with pytest.raises(ConfigError, match='"8" at rows 1, 3'):
        check_keys(_source(tmp_path, [1, 8, 2, 8]), "id")


def test_whole_float_keys_read_as_integers(tmp_path):
    with pytest.raises(ConfigError, match='"3" at rows 0, 1'):
        check_keys(_source(tmp_path, [3.0, 3.0, None]), "id")


def test_a_missing_key_column_lists_the_columns(tmp_path):
    with pytest.raises(ConfigError, match='has no key column "employee_id" \\(its columns: id, x\\)'):
        check_keys(_source(tmp_path, [1, 2]), "employee_id")
