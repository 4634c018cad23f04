"""Operations over models: training, registering, and (later) gates, promotion and drift.

``train_and_register`` is the one call that turns a table into a registered
version; the command line, the demo and continuous training all use it.
"""

from mldeploy.ops.registering import train_and_register
from mldeploy.ops.training import TrainResult

__all__ = ["TrainResult", "train_and_register"]
