"""Import every command module so each registers its commands on the app (in help order)."""

from mldeploy.cli import demo, training, predicting, serving, batching, catalogue, streaming, drifting, retraining, promoting, looping, comparing, examples  # noqa: F401  isort: skip
