"""Embedded deployment: the pipeline runs inside the app that needs it."""

from mldeploy.embedded.model import Model, load

__all__ = ["Model", "load"]
