"""Import every command module so each registers its commands on the app."""

from mldeploy.cli import catalogue, demo, predicting, training  # noqa: F401
