"""Fold tree thresholds back through each feature's chain so trees compare base values.

A tree split ``chain(b) <= t`` on a base value ``b`` holds for exactly the
``b`` up to some float ``b*`` because every chain step is monotone
non-decreasing. Binary search over the ordered float64 bit patterns, with the
chain evaluated by the same numpy operations scikit-learn uses, finds ``b*``
exactly, so ``b <= b*`` routes every row as scikit-learn does. The split's
missing-value route is what the chain makes of NaN.
"""

from __future__ import annotations

import numpy as np

from mldeploy.compiled.features import (
    Feature, MissingBase, NumBase, OneHotBase, OrdinalBase, Unsupported, apply_chain,
)

__all__ = ["LEQ", "fold_splits", "largest_left"]

LEQ = 0
"""The split mode ``x <= split``: the only one folding makes (one-hot codes arrive as 0/1 indicators)."""
_MAX = np.finfo(np.float64).max
_SIGN = np.uint64(1 << 63)
_ONE = np.uint64(1)


def fold_splits(feature: Feature, thresholds: np.ndarray, missing_left: np.ndarray):
    """Return (modes, splits, missing_tracks_true) on the base value for these splits on ``feature``."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    missing_left = np.asarray(missing_left, dtype=bool)
    nan_route = _route(feature.chain, np.nan, thresholds, missing_left)
    base = feature.base
    if isinstance(base, NumBase):
        lo = -_MAX if base.lo is None else base.lo
        splits = largest_left(feature.chain, lo, thresholds)
    elif isinstance(base, (MissingBase, OneHotBase)):
        splits = _fold_discrete(feature.chain, [0.0, 1.0], thresholds, missing_left)
    elif isinstance(base, OrdinalBase):
        values = set(base.values) | ({base.unknown} if base.unknown is not None else set())
        splits = _fold_discrete(feature.chain, sorted(v for v in values if v == v), thresholds, missing_left)
    else:
        raise Unsupported(f"no threshold folding for {type(base).__name__}")
    return np.full(len(thresholds), LEQ, dtype=np.uint8), splits, nan_route


def _route(chain: tuple, value: float, thresholds: np.ndarray, missing_left: np.ndarray) -> np.ndarray:
    """Whether each split sends ``value`` left, NaN results following the tree's missing route."""
    out = apply_chain(chain, np.full(len(thresholds), value))
    return np.where(np.isnan(out), missing_left, out <= thresholds)


def _fold_discrete(chain: tuple, values: list, thresholds: np.ndarray, missing_left: np.ndarray) -> np.ndarray:
    splits = np.full(len(thresholds), -np.inf)
    previous = np.ones(len(thresholds), dtype=bool)
    for value in values:
        left = _route(chain, value, thresholds, missing_left)
        if (left & ~previous).any():
            raise Unsupported("a split whose left side is not a range of encoded values")
        splits[left] = value
        previous = left
    splits[previous] = np.inf  # the largest value goes left: so does everything
    return splits


def largest_left(chain: tuple, lo: float, thresholds: np.ndarray) -> np.ndarray:
    """Return, per threshold, the largest float b >= lo with chain(b) <= t (-inf or +inf if none/all)."""
    n = len(thresholds)
    low = np.full(n, _key(lo))
    high = np.full(n, _key(_MAX))
    with np.errstate(all="ignore"):
        low_left = apply_chain(chain, _unkey(low)) <= thresholds
        high_left = apply_chain(chain, _unkey(high)) <= thresholds
        # 64 halvings take any span of 64-bit keys down to one step. A threshold whose span is down to one
        # step already keeps its low end: its middle is its low end, left of it as every low end is (or,
        # where none is, the result is -inf below). No mask of the ones still going: fewer operations a round.
        for _ in range(64):
            middle = low + ((high - low) >> _ONE)
            left = apply_chain(chain, _unkey(middle)) <= thresholds
            low = np.where(left, middle, low)
            high = np.where(left, high, middle)
    splits = _unkey(low)
    splits[~low_left] = -np.inf
    splits[high_left] = np.inf
    return splits


def _key(value: float) -> np.uint64:
    return _keys(np.array([value], dtype=np.float64))[0]


def _keys(values: np.ndarray) -> np.ndarray:
    """Map float64 to uint64 so that integer order is float order."""
    bits = values.view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _unkey(keys: np.ndarray) -> np.ndarray:
    bits = np.where(keys & _SIGN, keys & ~_SIGN, ~keys)
    return bits.view(np.float64)
