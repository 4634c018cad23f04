"""Compare one column's current tally and sample with its training profile, using scipy's statistics.

The test follows the data's size, as Evidently's presets do: with at most
1,000 current values a two-sample test decides by its p-value
(Kolmogorov-Smirnov for numbers, chi-square for categories); with more, any
trivial difference would be "significant", so a distance decides
(Wasserstein over the training standard deviation, Jensen-Shannon). The
training side of a numeric test is the profile's sketch: evenly spaced
quantiles that stand in for the training values (so its p-value is that of
a sample of their count). PSI is computed on the profile's bins over every
current row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from mldeploy.ops.drift_tally import CategoryTally, NumericTally
from mldeploy.ops.drift_thresholds import Limits

__all__ = ["FeatureDrift", "compare_categories", "compare_numbers", "psi"]

SMALL_SAMPLE = 1000
_EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite (the usual convention)
OTHER, UNSEEN = "(other)", "(unseen)"


@dataclass(frozen=True)
class FeatureDrift:
    """How one feature (or the prediction) compares with training, and whether it drifted and why."""

    feature: str
    kind: str
    """``numeric`` or ``categorical``."""
    test: str | None
    """``ks``, ``wasserstein``, ``chi-square`` or ``jensen-shannon``; None when the profile lacks what it needs."""
    statistic: float | None
    p_value: float | None
    psi: float | None
    unseen_share: float | None
    null_share: float
    training_null_share: float
    rows: int
    drifted: bool
    reasons: tuple[str, ...] = ()
    """Each limit passed, in words (``psi 0.31 >= 0.2``)."""
    note: str = ""
    shares: dict = field(default_factory=dict)
    """Categories only: {category: [training share, current share]}, for the report's plot."""
    training_points: np.ndarray | None = field(default=None, repr=False, compare=False)
    current_points: np.ndarray | None = field(default=None, repr=False, compare=False)

    CELLS = ("feature", "kind", "test", "statistic", "p-value", "PSI", "unseen", "empty (was)", "drifted?")
    """The headers of :meth:`cells`."""

    def cells(self) -> list[str]:
        """Return the finding as one row of text for a table (the command line's and the HTML page's)."""
        return [self.feature, self.kind, self.test or "—", _shown(self.statistic), _shown(self.p_value), _shown(self.psi),
                "—" if self.unseen_share is None else f"{self.unseen_share:.1%}",
                f"{self.null_share:.1%} ({self.training_null_share:.1%})", "yes" if self.drifted else "no"]

    def to_dict(self) -> dict:
        """Return the finding as JSON-ready data (without the plotted points)."""
        keys = ("feature", "kind", "test", "statistic", "p_value", "psi", "unseen_share", "null_share",
                "training_null_share", "rows", "drifted", "reasons", "note", "shares")
        return {key: _plain(getattr(self, key)) for key in keys}


def compare_numbers(name: str, profile: dict, tally: NumericTally, sample: np.ndarray, limits: Limits) -> FeatureDrift:
    """Compare a numeric column: KS or normed Wasserstein on the sample, PSI on every row, empty values."""
    from scipy import stats

    values = sample[np.isfinite(sample)]
    nulls = _null_shares(profile, tally)
    sketch, bins = profile.get("sketch"), profile.get("bins")
    note = ""
    if not sketch or not bins:
        note = ("the bundle's profile predates drift checks (no bins); retrain to get them" if profile.get("quantiles")
                else "no training values to compare with")
    elif not values.size:
        note = "no current values"
    if note:
        return _finding(name, "numeric", None, None, None, None, None, nulls, tally.rows, limits, note)
    reference = np.asarray(sketch, dtype="float64")
    if len(values) <= SMALL_SAMPLE:
        result = stats.ks_2samp(reference, values)
        test, statistic, p_value = "ks", float(result.statistic), float(result.pvalue)
    else:
        scale = float(profile.get("std") or 0.0) or 1.0
        test, statistic, p_value = "wasserstein", float(stats.wasserstein_distance(reference, values)) / scale, None
    index = psi(np.asarray(bins["shares"]), tally.counts)
    found = _finding(name, "numeric", test, statistic, p_value, index, None, nulls, tally.rows, limits)
    return replace(found, training_points=reference, current_points=values)


def compare_categories(name: str, profile: dict, tally: CategoryTally, limits: Limits) -> FeatureDrift:
    """Compare a categorical column: chi-square or Jensen-Shannon and PSI over its categories, unseen values, empty values."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    nulls = _null_shares(profile, tally)
    frequencies = profile.get("frequencies")
    filled = tally.rows - tally.nulls
    unseen = tally.unseen / filled if filled and tally.seen is not None else None
    if frequencies is None or not filled:
        note = "no current values" if frequencies is not None else "no category frequencies in the profile"
        return _finding(name, "categorical", None, None, None, None, unseen, nulls, tally.rows, limits, note)
    labels = [*frequencies, OTHER, UNSEEN]
    expected = np.array([*frequencies.values(), profile.get("other_share", max(0.0, 1 - sum(frequencies.values()))), 0.0])
    observed = np.array([tally.counts.get(label, 0) for label in frequencies] + [tally.other, tally.unseen], dtype="float64")
    if filled <= SMALL_SAMPLE:
        smoothed = np.clip(expected, _EPSILON, None)
        result = stats.chisquare(observed, smoothed / smoothed.sum() * observed.sum())
        test, statistic, p_value = "chi-square", float(result.statistic), float(result.pvalue)
    else:
        test, statistic, p_value = "jensen-shannon", float(jensenshannon(expected, observed / observed.sum())), None
    index = psi(expected, observed)
    current = observed / observed.sum()
    shares = {label: [float(e), float(c)] for label, e, c in zip(labels, expected, current) if e or c}
    found = _finding(name, "categorical", test, statistic, p_value, index, unseen, nulls, tally.rows, limits)
    return replace(found, shares=shares)


def psi(expected_shares: np.ndarray, observed_counts: np.ndarray) -> float:
    """Return the population stability index: the symmetric KL divergence of the two binned distributions."""
    from scipy.special import rel_entr

    expected = np.clip(np.asarray(expected_shares, dtype="float64"), _EPSILON, None)
    observed = np.asarray(observed_counts, dtype="float64")
    observed = np.clip(observed / observed.sum(), _EPSILON, None) if observed.sum() else expected
    expected, observed = expected / expected.sum(), observed / observed.sum()
    return float(np.sum(rel_entr(observed, expected) + rel_entr(expected, observed)))


def _null_shares(profile: dict, tally) -> tuple[float, float]:
    return (tally.nulls / tally.rows if tally.rows else 0.0), float(profile.get("null_share", 0.0))


def _finding(name, kind, test, statistic, p_value, index, unseen, nulls, rows, limits: Limits, note: str = "") -> FeatureDrift:
    null_share, training_null = nulls
    reasons = []
    if p_value is not None and p_value < limits.p_value:
        reasons.append(f"{test} p-value {p_value:.3g} < {limits.p_value:g}")
    if p_value is None and statistic is not None and statistic >= limits.distance:
        reasons.append(f"{test} distance {statistic:.3g} >= {limits.distance:g}")
    if index is not None and index >= limits.psi:
        reasons.append(f"psi {index:.3g} >= {limits.psi:g}")
    if unseen is not None and unseen >= limits.unseen_share:
        reasons.append(f"unseen share {unseen:.1%} >= {limits.unseen_share:.1%}")
    if abs(null_share - training_null) >= limits.null_share_change:
        reasons.append(f"empty share {training_null:.1%} -> {null_share:.1%}")
    return FeatureDrift(name, kind, test, statistic, p_value, index, unseen, null_share, training_null, rows,
                        bool(reasons), tuple(reasons), note)


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
