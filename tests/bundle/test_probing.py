"""Probe rows are the base row with one field changed: built column by column, as joining one-row frames built them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mldeploy.bundle.probing import _UNSEEN_PROBE, _Answers


def _joined_rows(base: pd.DataFrame, questions: list) -> pd.DataFrame:
    """The former construction: a copy of the base row per question, joined with pd.concat."""
    rows = []
    for column, value in questions:
        row = base.copy()
        row[column] = pd.Series([value], dtype=object if base[column].dtype == object else "float64")
        rows.append(row)
    return pd.concat(rows, ignore_index=True)


_BASE = pd.DataFrame({
    "size": [12.5], "count": pd.Series([3], dtype="int64"), "kind": pd.Series(["a"], dtype=object),
    "flag": [True], "note": pd.Series([None], dtype=object),
})
_QUESTIONS = [
    ("size", np.nan), ("size", -1e308), ("count", np.nan), ("count", 0.5), ("kind", np.nan), ("kind", None),
    ("kind", _UNSEEN_PROBE), ("flag", np.nan), ("note", np.nan), ("note", "x"), ("size", 7.0),
]


@pytest.mark.parametrize("questions", [_QUESTIONS, _QUESTIONS[:1], _QUESTIONS[5:6], [("flag", np.nan)],
                                       [("count", 2.0), ("count", np.nan)], _QUESTIONS[::-1]])
def test_rows_match_the_joined_one_row_frames(questions):
    rows = _Answers(None, _BASE)._rows(questions)
    expected = _joined_rows(_BASE, questions)
    pd.testing.assert_frame_equal(rows, expected)
    for name in ("kind", "note"):  # None stays None and NaN stays NaN in text columns: scikit-learn tells them apart
        assert [type(v) for v in rows[name]] == [type(v) for v in expected[name]]
