"""Embedded deployment: the pipeline runs inside the app that needs it.

``Model`` and ``load`` are the serving core's, re-exported here because an
embedding app imports them by this name; the wheel builder is this adapter's own.
"""

from mldeploy.serving.loading import load
from mldeploy.serving.model import Model

__all__ = ["Model", "load"]
