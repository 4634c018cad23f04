"""Refuse the rows scikit-learn refuses: NaN or infinity arriving at a step that validates its input.

A step such as SelectKBest raises on NaN, a scaler on infinity. Such values
arise inside a pipeline from finite inputs (``log1p(-1)`` is -inf, ``log(-2)``
NaN), so the compiled form computes, per base value, the interval of inputs
whose chain stays finite at every such step, and whether NaN may pass.
"""

from __future__ import annotations

import math

import numpy as np

from mldeploy.compiled.features import Feature, NumBase, OrdinalBase, apply_chain
from mldeploy.compiled.fold import largest_left

__all__ = ["base_guards", "may_be_nan", "nan_free_bases"]

_MAX = np.finfo(np.float64).max


def base_guards(guards: list, base_index: dict) -> dict[int, list]:
    """Return {base index: [lowest, highest, nan_allowed]} for bases that can be refused.

    ``guards`` holds (policy, features) pairs; ``base_index`` maps a base to its encoder column
    and gains an entry for a base only a guard needs.
    """
    out: dict[int, list] = {}
    ends: dict[tuple, tuple] = {}  # a feature reaches several checking steps (selection, then the model): search once
    for policy, features in guards:
        for feature in features:
            if not isinstance(feature, Feature):
                continue
            low, high, nan_ok = _feature_guard(feature, policy, ends)
            if low == -math.inf and high == math.inf and (nan_ok or not may_be_nan(feature.base)):
                continue
            index = base_index.setdefault(feature.base, len(base_index))
            old = out.get(index, [-math.inf, math.inf, True])
            out[index] = [max(old[0], low), min(old[1], high), old[2] and nan_ok]
    return out


def _feature_guard(feature: Feature, policy: str, ends: dict[tuple, tuple]) -> tuple[float, float, bool]:
    with np.errstate(all="ignore"):
        nan_ok = policy == "allow-nan" or not np.isnan(apply_chain(feature.chain, np.array([np.nan]))[0])
        if not isinstance(feature.base, NumBase):
            return -math.inf, math.inf, nan_ok
        start = -_MAX if feature.base.lo is None else feature.base.lo
        key = (feature.chain, start)
        if key not in ends:  # one search for both ends
            ends[key] = tuple(largest_left(feature.chain, start, np.array([-np.inf, _MAX])))
        minus, plus = ends[key]
    low = -math.inf if minus == -np.inf else float(np.nextafter(minus, np.inf))
    return low, float(plus), nan_ok


def nan_free_bases(base_index: dict, guards: dict[int, list]) -> set[int]:
    """Return the base indices that never hold NaN when a row is scored (NaN there is refused or impossible)."""
    return {i for base, i in base_index.items() if not may_be_nan(base) or (i in guards and not guards[i][2])}


def may_be_nan(base) -> bool:
    """Tell whether the encoder can give NaN for this base."""
    if isinstance(base, NumBase):
        return base.fill is None or base.lo is not None
    if isinstance(base, OrdinalBase):
        return any(v != v for v in base.values) or (base.unknown is not None and base.unknown != base.unknown)
    return False
