"""What the site answers: an estimate, its range from the bundle's held-out residuals, and who answered."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Answer", "Estimate", "estimate_of"]


@dataclass(frozen=True)
class Answer:
    """One mode's raw answer: the predicted value and the version that gave it, with that version's metrics."""

    value: float
    model_name: str
    model_version: int
    metrics: dict


@dataclass(frozen=True)
class Estimate:
    """The JSON every mode answers: ``{"estimate", "low", "high", "model_name", "model_version", "mode"}``."""

    estimate: float
    low: float | None
    high: float | None
    model_name: str
    model_version: int
    mode: str

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_of(answer: Answer, mode: str) -> Estimate:
    """Return the estimate with its range: the value plus the held-out residuals' 10th and 90th percentiles.

    Training records them (``residual_p10``, ``residual_p90`` in the manifest's
    metrics); a version made before has no range (``low`` and ``high`` None).
    """
    low, high = answer.metrics.get("residual_p10"), answer.metrics.get("residual_p90")
    has_range = isinstance(low, (int, float)) and isinstance(high, (int, float))
    return Estimate(float(answer.value), float(answer.value + low) if has_range else None,
                    float(answer.value + high) if has_range else None, answer.model_name, answer.model_version, mode)
