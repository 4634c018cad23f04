"""The core: an immutable, verified package of one pipeline version.

It knows nothing about HTTP, Kafka, databases or command lines. Input is checked
against its schema by :mod:`mldeploy.validation`. Names are imported on first use,
so reading a reference (:mod:`mldeploy.bundle.ref`) does not import pandas.
"""

from __future__ import annotations

from mldeploy._lazy import lazy_names

_LAZY = {
    "Bundle": "mldeploy.bundle.bundle",
    "BundleRef": "mldeploy.bundle.ref",
    "Field": "mldeploy.bundle.schema",
    "Output": "mldeploy.bundle.schema",
    "Schema": "mldeploy.bundle.schema",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return __all__
