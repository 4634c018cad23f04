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

from mldeploy.ops.config import OpsConfig, load_config
from mldeploy.ops.gate_rules import GateConfig
from mldeploy.ops.gating import GateResult, gate
from mldeploy.ops.loop import Loop, LoopPass
from mldeploy.ops.promotion import Promotion, history, promote, rollback
from mldeploy.ops.registering import train_and_register
from mldeploy.ops.retraining import Retrained, retrain
from mldeploy.ops.training import TrainResult

__all__ = [
    "GateConfig", "GateResult", "Loop", "LoopPass", "OpsConfig", "Promotion", "Retrained", "TrainResult", "gate", "history",
    "load_config", "promote", "retrain", "rollback", "train_and_register",
]
