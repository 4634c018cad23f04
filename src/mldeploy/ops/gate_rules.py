"""What a quality gate checks and how strict it is: metrics, slices, latency and edge rows, declared once.

Each metric is declared with the task it applies to, its direction and the
range its values can take, so one table both checks a configuration (an
unknown metric, a threshold no model can reach) and drives the comparison.
Tolerances are relative: 0.02 lets the challenger be 2% worse than the
champion. A threshold is absolute, as in MLflow's ``MetricThreshold``: a
metric that reaches it passes even when it is worse than the champion's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mldeploy.errors import ConfigError

__all__ = ["METRICS", "GateConfig", "MetricRule", "MetricSpec", "SliceRule", "default_metrics"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric a gate can compare: the task it measures, its direction and its possible values."""

    task: str
    higher_is_better: bool
    low: float = 0.0
    high: float = math.inf


METRICS: dict[str, MetricSpec] = {
    "mae": MetricSpec("regression", higher_is_better=False),
    "rmse": MetricSpec("regression", higher_is_better=False),
    "r2": MetricSpec("regression", higher_is_better=True, low=-math.inf, high=1.0),
    "accuracy": MetricSpec("classification", higher_is_better=True, high=1.0),
    "f1_macro": MetricSpec("classification", higher_is_better=True, high=1.0),
    "roc_auc": MetricSpec("classification", higher_is_better=True, high=1.0),
    "log_loss": MetricSpec("classification", higher_is_better=False),
}
"""Every metric a gate knows, by the name used in ``ops.toml`` and on the command line."""

_DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class MetricRule:
    """Compare one metric: not worse than the champion's beyond ``tolerance``, or reaching ``threshold``."""

    metric: str
    tolerance: float = _DEFAULT_TOLERANCE
    """How much worse than the champion's value is allowed, as a share of it (0.02 = 2%)."""
    threshold: float | None = None
    """An absolute level that passes whatever the champion scored (at most, for an error; at least, for a score)."""

    def __post_init__(self):
        spec = METRICS.get(self.metric)
        if spec is None:
            raise ConfigError(f'unknown metric "{self.metric}"; a gate knows {", ".join(METRICS)}')
        _check_tolerance(self.tolerance, f'metric "{self.metric}"')
        if self.threshold is not None and not (spec.low <= self.threshold <= spec.high):
            raise ConfigError(f'metric "{self.metric}": threshold {self.threshold} is impossible (its values lie in '
                              f"[{spec.low}, {spec.high}]); choose a reachable threshold")

    @property
    def spec(self) -> MetricSpec:
        """The metric's declaration."""
        return METRICS[self.metric]


@dataclass(frozen=True)
class SliceRule:
    """Compare the first metric within each value of ``column`` that has at least ``min_rows`` holdout rows."""

    column: str
    min_rows: int = 30
    tolerance: float = 0.05
    """How much worse than the champion's value within a slice is allowed, as a share of it."""

    def __post_init__(self):
        if not self.column:
            raise ConfigError("a slice needs a column name, e.g. column = \"city\"")
        if isinstance(self.min_rows, bool) or not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ConfigError(f'slice "{self.column}": min_rows must be a whole number >= 1, got {self.min_rows!r}')
        _check_tolerance(self.tolerance, f'slice "{self.column}"')


@dataclass(frozen=True)
class GateConfig:
    """How strict a gate is; empty ``metrics`` means the defaults of the challenger's task."""

    metrics: tuple[MetricRule, ...] = ()
    slices: tuple[SliceRule, ...] = ()
    latency_budget_ms: float = 250.0
    """Largest median time of one one-row prediction on the serving path (generous: machines are shared)."""
    latency_repeats: int = 25
    check_edge_rows: bool = True

    def __post_init__(self):
        if not (isinstance(self.latency_budget_ms, (int, float)) and 0 < self.latency_budget_ms < math.inf):
            raise ConfigError(f"latency_budget_ms must be a number of milliseconds > 0, got {self.latency_budget_ms!r}")
        if isinstance(self.latency_repeats, bool) or not isinstance(self.latency_repeats, int) or not 1 <= self.latency_repeats <= 1000:
            raise ConfigError(f"latency_repeats must be a whole number in [1, 1000], got {self.latency_repeats!r}")
        seen = [rule.metric for rule in self.metrics]
        twice = sorted({name for name in seen if seen.count(name) > 1})
        if twice:
            raise ConfigError(f"metric(s) {', '.join(twice)} configured twice; keep one rule per metric")

    def rules_for(self, task: str) -> tuple[MetricRule, ...]:
        """Return the metric rules for ``task``, refusing a configured metric of the other task."""
        rules = self.metrics or default_metrics(task)
        wrong = [rule.metric for rule in rules if rule.spec.task != task]
        if wrong:
            raise ConfigError(f"metric(s) {', '.join(wrong)} measure {METRICS[wrong[0]].task}, but this model does "
                              f"{task}; use {', '.join(n for n, s in METRICS.items() if s.task == task)}")
        return rules


def default_metrics(task: str) -> tuple[MetricRule, ...]:
    """Return a rule with the default tolerance for every metric of ``task``."""
    return tuple(MetricRule(name) for name, spec in METRICS.items() if spec.task == task)


def _check_tolerance(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ConfigError(f"{what}: tolerance must be a share >= 0 (0.02 = 2% worse allowed), got {value!r}")
