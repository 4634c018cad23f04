"""When a feature, the prediction and the dataset count as drifted: limits with defaults, per feature.

Defaults follow common practice (Evidently's presets, the PSI rule of thumb):

- ``p_value`` 0.05: with at most 1,000 current values, a two-sample test
  (Kolmogorov-Smirnov for numbers, chi-square for categories) drifts below it;
- ``distance`` 0.1: with more values a p-value flags any trivial difference,
  so the distance decides: Wasserstein distance divided by the training
  standard deviation for numbers, Jensen-Shannon distance for categories;
- ``psi`` 0.2: population stability index on the profile's bins
  (under 0.1 stable, 0.1-0.2 moderate, above 0.2 a significant shift);
- ``unseen_share`` 0.05: share of values training never saw;
- ``null_share_change`` 0.1: change of the share of empty values;
- ``drift_share`` 0.5: the dataset drifts when this share of features drift.

Keys on the command line and in Python: ``psi=0.25`` (every feature),
``city.unseen_share=0.2`` (one feature), ``prediction.distance=0.05`` (the
model's output), ``drift_share=0.3``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

from mldeploy.errors import ConfigError

SAMPLE_ROWS = 20_000
"""Rows of the current data kept for the two-sample tests and scored for the prediction's drift."""
CHUNK_ROWS = 65_536
"""Rows of the current data read at a time."""
MAX_ROWS = 1_000_000
"""Upper bound of both: memory grows with each."""

__all__ = ["DATASET_KEYS", "PREDICTION", "Limits", "Thresholds"]

PREDICTION = "prediction"
"""The name the model's output goes by in thresholds and reports."""
DATASET_KEYS = ("drift_share",)


@dataclass(frozen=True)
class Limits:
    """The limits one feature (or the prediction) is checked against."""

    p_value: float = 0.05
    """Two-sample test (at most 1,000 values): drift when the p-value is below this."""
    distance: float = 0.1
    """Normed Wasserstein (numbers) or Jensen-Shannon (categories) distance: drift at or above this."""
    psi: float = 0.2
    """Population stability index on the profile's bins: drift at or above this."""
    unseen_share: float = 0.05
    """Share of values training never saw: drift at or above this."""
    null_share_change: float = 0.1
    """Change of the share of empty values (either way): drift at or above this."""


_LIMIT_NAMES = tuple(f.name for f in fields(Limits))
# Each limit lies above 0 and below (or, for a share, at most) its upper end: beyond, it always or never fires.
_UPPER = {"p_value": (1.0, "1)"), "distance": (math.inf, "infinity)"), "psi": (math.inf, "infinity)"),
          "unseen_share": (1.0, "1]"), "null_share_change": (1.0, "1]"), "drift_share": (1.0, "1]")}


@dataclass(frozen=True)
class Thresholds:
    """Default limits, overrides per feature, and the share of drifted features that makes dataset drift."""

    default: Limits = Limits()
    features: Mapping[str, Limits] = field(default_factory=dict)
    drift_share: float = 0.5

    @classmethod
    def parse(cls, items: "Mapping[str, float] | Iterable[str] | Thresholds | None") -> "Thresholds":
        """Build from ``{"psi": 0.25, "city.unseen_share": 0.2}``, ``["psi=0.25", ...]`` or nested tables.

        A nested mapping (``{"city": {"unseen_share": 0.2}}``, as a ``[drift.city]``
        TOML table reads) is the same as its dotted keys. ConfigError names a bad key.
        """
        if isinstance(items, Thresholds):
            return items
        if items is None:
            return cls()
        pairs = _flat(items) if isinstance(items, Mapping) else [_split(text) for text in items]
        # Limits for every feature first, then each feature's own: a feature's limit wins whatever the order given.
        pairs.sort(key=lambda pair: "." in str(pair[0]))
        result = cls()
        for key, value in pairs:
            result = result._with(str(key), _number(key, value))
        return result

    def for_feature(self, name: str) -> Limits:
        """Return the limits of one feature (or of ``prediction``)."""
        return self.features.get(name, self.default)

    def check_features(self, names: Iterable[str]) -> None:
        """Refuse overrides for features the model does not have, naming them and the features it has."""
        known = set(names) | {PREDICTION}
        unknown = sorted(set(self.features) - known)
        if unknown:
            raise ConfigError(f"threshold for unknown feature(s) {', '.join(map(repr, unknown))}; "
                              f"the model's features are {', '.join(sorted(set(names)))} (and {PREDICTION})")

    def to_dict(self) -> dict:
        """Return the limits as plain data, for a report."""
        return {"default": vars(self.default).copy(), "drift_share": self.drift_share,
                "features": {name: vars(limits).copy() for name, limits in self.features.items()}}

    def _with(self, key: str, value: float) -> "Thresholds":
        feature, _, name = key.rpartition(".")
        if name in DATASET_KEYS and not feature:
            _check_range(key, name, value)
            return replace(self, drift_share=value)
        if name not in _LIMIT_NAMES:
            raise ConfigError(f"unknown threshold {key!r}; expected [FEATURE.]NAME with NAME one of "
                              f"{', '.join(_LIMIT_NAMES)}, or {', '.join(DATASET_KEYS)}")
        _check_range(key, name, value)
        if not feature:
            overridden = {f: replace(limits, **{name: value}) for f, limits in self.features.items()}
            return replace(self, default=replace(self.default, **{name: value}), features=overridden)
        limits = replace(self.for_feature(feature), **{name: value})
        return replace(self, features={**self.features, feature: limits})


def _flat(items: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    pairs = []
    for key, value in items.items():
        name = f"{prefix}{key}"
        pairs.extend(_flat(value, f"{name}.") if isinstance(value, Mapping) else [(name, value)])
    return pairs


def _split(text: str) -> tuple[str, str]:
    key, sign, value = str(text).partition("=")
    if not sign or not key.strip():
        raise ConfigError(f"threshold {text!r}: expected KEY=VALUE, e.g. psi=0.25 or city.unseen_share=0.2")
    return key.strip(), value.strip()


def _number(key, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold {key}: expected a number, got {str(value)[:40]!r}") from None
    if math.isnan(number):
        raise ConfigError(f"threshold {key}: expected a number, got NaN")
    return number


def _check_range(key: str, name: str, value: float) -> None:
    high, shown = _UPPER[name]
    if not (0.0 < value < high or (value == high and shown.endswith("]"))):
        raise ConfigError(f"threshold {key}={value:g} is impossible; expected a number in (0, {shown}")
