"""Operations over models: training, registering, and the freshness loop (retrain, gate, promote, rollback).

``train_and_register`` is the one call that turns a table into a registered
version; the command line, the demo and continuous training all use it. The
loop's steps are functions returning records, not printed text::

    from mldeploy import ops
    made = ops.retrain(registry, "salary:production", recent, "salary")
    decided = ops.gate(registry, made.challenger, "salary:production", holdout, "salary")
    if decided.passed:
        ops.promote(registry, made.challenger, "production", reason="Q3 data")
    ops.rollback(registry, "salary", "production", reason="complaints")
    ops.history(registry, "salary")
    ops.Loop(registry, ops.load_config("ops.toml")).run_once()
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

_LAZY = {
    "OpsConfig": "mldeploy.ops.config", "load_config": "mldeploy.ops.config",
    "GateConfig": "mldeploy.ops.gate_rules",
    "GateResult": "mldeploy.ops.gating", "gate": "mldeploy.ops.gating",
    "Loop": "mldeploy.ops.loop", "LoopPass": "mldeploy.ops.loop",
    "Promotion": "mldeploy.ops.promotion", "history": "mldeploy.ops.promotion",
    "promote": "mldeploy.ops.promotion", "rollback": "mldeploy.ops.promotion",
    "train_and_register": "mldeploy.ops.registering",
    "Retrained": "mldeploy.ops.retraining", "retrain": "mldeploy.ops.retraining",
    "TrainResult": "mldeploy.ops.training",
}
"""Each public name -> its module, imported on first use: the command line reads small modules of this package
(drift's row limits) without importing the whole loop."""

__all__ = sorted(_LAZY)

__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return __all__
