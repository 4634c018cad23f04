"""How a pipeline compiled (a :class:`StepPlan` per step) and the manifest's record of it, as typed values.

Pure data: the compiler writes it, bundle creation (``bundle/compiling.py``) stores it in
the manifest, and the serving core, ``mldeploy show`` and the wheel builder read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["CompiledInfo", "StepPlan"]

Status = Literal["compiled", "fallback", "none"]


@dataclass(frozen=True)
class StepPlan:
    """How one pipeline step runs: "compiled" or "fallback", and why."""

    step: str
    status: str
    reason: str


@dataclass(frozen=True)
class CompiledInfo:
    """Whether a bundle has a compiled form, why (not), how each step compiled, and which engines were proven."""

    status: Status
    reason: str
    plan: tuple[StepPlan, ...] = ()
    verified: str | None = None
    """The verification summary recorded when the bundle was made."""
    engines: tuple[str, ...] = ()
    """Tree engines proven bit-identical to scikit-learn when the bundle was made."""

    @property
    def is_compiled(self) -> bool:
        """Whether the bundle carries a verified compiled form."""
        return self.status == "compiled"

    @classmethod
    def from_dict(cls, data: dict | None) -> "CompiledInfo":
        """Read the manifest's ``compiled`` entry (empty in bundles made before compilation existed)."""
        if not data:
            return cls("none", "the bundle was made before compiled forms existed")
        plan = tuple(StepPlan(str(p["step"]), str(p["status"]), str(p["reason"])) for p in data.get("plan") or ())
        return cls(data.get("status", "none"), str(data.get("reason", "")), plan, data.get("verified"),
                   tuple(data.get("engines") or ()))

    def to_dict(self) -> dict:
        """Return the manifest's JSON form."""
        data = {"status": self.status, "reason": self.reason, "plan": [asdict(p) for p in self.plan], "verified": self.verified}
        if self.engines:
            data["engines"] = list(self.engines)
        return data
