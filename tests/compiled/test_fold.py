"""Threshold folding: a split on a transformed feature routes every base value as the transform would."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _examples import examples
from mldeploy.compiled.features import Feature, NumBase, apply_chain
from mldeploy.compiled.fold import LEQ, fold_splits

_CHAIN = (("func", "log1p"), ("sub", 6.37), ("div", 1.83))


@pytest.mark.timeout(120)
@settings(max_examples=examples(25), deadline=None)
@given(threshold=st.floats(-5, 5), values=st.lists(st.floats(-1, 1e9), min_size=1, max_size=50))
def test_folded_split_agrees_with_the_chain(threshold, values) -> None:
    feature = Feature(NumBase("size", lo=-1.0), _CHAIN)
    modes, splits, _ = fold_splits(feature, np.array([threshold]), np.array([True]))
    values = np.array(values)
    assert modes[0] == LEQ
    with np.errstate(all="ignore"):
        assert np.array_equal(values <= splits[0], apply_chain(_CHAIN, values) <= threshold)


@pytest.mark.timeout(60)
def test_float32_cast_is_folded_exactly() -> None:
    feature = Feature(NumBase("a"), (("sub", 0.1), ("div", 3.0), ("f32",)))
    threshold = 0.123456789
    _, splits, _ = fold_splits(feature, np.array([threshold]), np.array([False]))
    split = splits[0]
    assert apply_chain(feature.chain, np.array([split]))[0] <= threshold
    assert apply_chain(feature.chain, np.array([np.nextafter(split, np.inf)]))[0] > threshold


@pytest.mark.timeout(60)
def test_missing_values_follow_the_imputed_value_or_the_tree() -> None:
    imputed_after = Feature(NumBase("a"), (("fill", 2.0), ("sub", 1.0)))
    _, _, tracks = fold_splits(imputed_after, np.array([0.5, 1.5]), np.array([False, False]))
    assert tracks.tolist() == [False, True]
    raw = Feature(NumBase("a"), (("sub", 1.0),))
    _, _, tracks = fold_splits(raw, np.array([0.5, 0.5]), np.array([True, False]))
    assert tracks.tolist() == [True, False]
