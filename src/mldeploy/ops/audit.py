"""Record a drift finding in a model's history, for the loop and for `mldeploy drift` alike."""

from __future__ import annotations

from mldeploy.bundle import BundleRef

__all__ = ["record_drift"]


def record_drift(registry, report, actor: str = ""):
    """Append ``report`` (a :class:`~mldeploy.ops.drift.DriftReport` on a registry version) to its model's history.

    Returns the event recorded.
    """
    ref = BundleRef.parse(str(report.ref))
    return registry.journal.record(ref.name, "drift", reason=report.summary(), actor=actor, version=ref.version,
                                   details=report.to_dict())
