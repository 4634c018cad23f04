"""Give a package names that are imported on first use (PEP 562), so importing it stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_names"]


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """Return the module ``__getattr__`` that imports each name in ``where`` from its module when first asked.

    Example, in a package's ``__init__.py``::

        __getattr__ = lazy_names(__name__, {"LiveModel": "mldeploy.serving.live_model"})
    """

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    return __getattr__
