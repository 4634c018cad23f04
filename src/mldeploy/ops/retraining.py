"""Retrain a challenger from the champion's own recipe: same steps, same parameters, new data.

The champion's pipeline is loaded from its bundle and cloned with
``sklearn.base.clone`` (unfitted, every parameter kept, random seeds
included), so training on the same data twice gives the same predictions.
The challenger is registered with the champion as its parent; its manifest
carries its training data's fingerprint, and the history records the
fingerprint of the whole table it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mldeploy.bundle import BundleRef
from mldeploy.bundle.digest import frame_fingerprint
from mldeploy.errors import ConfigError
from mldeploy.ops.registering import train_and_register

__all__ = ["Retrained", "retrain"]


@dataclass(frozen=True)
class Retrained:
    """A challenger registered from the champion's recipe."""

    challenger: BundleRef
    champion: BundleRef
    metrics: dict
    """Held-out metrics of the challenger on its own split of the new data."""
    data_fingerprint: str
    """SHA-256 of the whole table it was trained from (the manifest holds its training split's)."""
    rows: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the record as JSON-ready values."""
        return {"challenger": str(self.challenger), "champion": str(self.champion), "metrics": self.metrics,
                "data_fingerprint": self.data_fingerprint, "rows": self.rows, "warnings": list(self.warnings)}


def retrain(registry, champion: str | BundleRef, frame: pd.DataFrame, target: str, factory: Callable | None = None,
            test_size: float = 0.2, seed: int = 0, trusted=(), actor: str = "",
            progress: Callable[[str], None] | None = None) -> Retrained:
    """Fit a clone of ``champion``'s pipeline (or ``factory()``'s) on ``frame`` and register it as a challenger.

    The features are the champion's input fields and the task is its task, so
    the challenger can replace it; ``frame`` must hold them and ``target``.

    Example::

        retrained = retrain(registry, "salary:production", pd.read_parquet("recent.parquet"), "salary")
    """
    champion_ref = registry.resolve(champion)
    bundle = registry.get(champion_ref)
    fields = bundle.schema.names
    missing = [name for name in fields if name not in frame.columns]
    if missing:
        raise ConfigError(f"the new data lacks the champion {champion_ref}'s input field(s) "
                          f"{', '.join(map(repr, missing))}; give data with the same columns")
    recipe = factory or _clone_of(bundle, trusted)
    ref, result = train_and_register(
        frame, target, name=champion_ref.name, registry=registry, factory=recipe, task=bundle.manifest.task,
        features=fields, test_size=test_size, seed=seed, trusted=trusted, parent=champion_ref, progress=progress,
        description=f"retrained from {champion_ref}",
    )
    fingerprint = frame_fingerprint(frame)
    registry.journal.record(ref.name, "retrain", reason=f"challenger from {champion_ref}'s recipe", actor=actor,
                            version=ref.version, previous=champion_ref.version,
                            details={"data_fingerprint": fingerprint, "rows": len(frame), "metrics": result.metrics})
    return Retrained(ref, champion_ref, result.metrics, fingerprint, len(frame), result.warnings)


def _clone_of(bundle, trusted) -> Callable:
    from sklearn.base import clone

    fitted = bundle.load_pipeline(trusted=trusted)
    return lambda: clone(fitted)
