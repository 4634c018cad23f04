"""Carry the version an alias points at to every configured target: batch jobs, wheels, model topics.

API servers that follow ``NAME:ALIAS`` swap by themselves (``LiveModel``),
and a ``publish --follow`` relay carries the alias to a topic; the targets
here are the ones someone has to act for. The alias moves first, in one
transaction; each target then receives the alias's version, and what it got
(or why it failed) is recorded, so a target that failed is retried on the
next run and one that succeeded is never sent the same version twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from mldeploy.errors import shorten
from mldeploy.ops.config import BatchTarget, EmbeddedTarget, PublishTarget

__all__ = ["Outcome", "deliver", "fan_out"]


@dataclass(frozen=True)
class Outcome:
    """What one target did with a version: delivered, already held it, or failed (with the reason)."""

    target: str
    version: int
    status: str
    """``delivered``, ``already`` (it held that version) or ``failed``."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Tell whether the target now holds the version."""
        return self.status != "failed"

    def to_dict(self) -> dict:
        """Return the outcome as JSON-ready values."""
        return dict(self.__dict__)


def fan_out(registry, name: str, alias: str, targets, trusted=(), public_key=None) -> tuple[Outcome, ...]:
    """Bring every target up to the version ``name:alias`` points at now; return what each did."""
    version = registry.aliases(name).get(alias)
    if version is None:
        return ()
    journal = registry.journal
    outcomes = []
    for target in targets:
        held = journal.delivery(name, alias, target.label)
        if held is not None and not held.is_due and held.version == version:
            outcomes.append(Outcome(target.label, version, "already"))
            continue
        try:
            detail = deliver(registry, target, name, version, trusted, public_key)
        except Exception as exc:  # one target's failure (disk, broker, job) must not stop the others; retried next run
            reason = f"{type(exc).__name__}: {shorten(exc, 300)}"
            journal.record_delivery(name, alias, target.label, version, ok=False, reason=reason)
            journal.record(name, "fan-out-failed", reason=f"{target.label}: {reason}", alias=alias, version=version,
                           details={"target": target.label})
            outcomes.append(Outcome(target.label, version, "failed", reason))
            continue
        journal.record_delivery(name, alias, target.label, version, ok=True, reason=detail)
        outcomes.append(Outcome(target.label, version, "delivered", detail))
    return tuple(outcomes)


def deliver(registry, target, name: str, version: int, trusted=(), public_key=None) -> str:
    """Send ``name@version`` to one target; return what was done, in one line."""
    ref = f"{name}@{version}"
    if isinstance(target, BatchTarget):
        from mldeploy.batch.job import run_batch

        run = run_batch(ref, target.input, key=target.key, store=target.store, registry=registry, trusted=trusted,
                        public_key=public_key)
        return f"batch run {run.run_id}: {run.rows_written:,} predictions of {ref}"
    if isinstance(target, EmbeddedTarget):
        from mldeploy.embedded.wheel import build_wheel

        wheel = build_wheel(registry.get(ref), target.out, trusted=tuple(trusted), public_key=public_key)
        apps = f"; rebuild {', '.join(target.apps)}" if target.apps else ""
        return f"built {wheel}{apps}"
    if isinstance(target, PublishTarget):
        from mldeploy.stream import publish

        published = publish(registry.get(ref), target.url)
        return f"published {ref} to {published.location.url()}"
    raise TypeError(f"unknown fan-out target {target!r}")
