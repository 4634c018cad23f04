"""Bounds on configuration fields, declared once beside the field and checked in one place.

A config dataclass declares each bounded field with :func:`bounded`; its
``__post_init__`` calls :func:`check_fields`. The same declaration words the
error and gives tests the values just outside the bounds (as scikit-learn's
``_param_validation`` does), and the command line takes its defaults from the
dataclass, so no bound or default is written twice. Example::

    @dataclass(frozen=True)
    class ApiConfig:
        port: int = bounded(8080, 0, 65535)

        def __post_init__(self):
            check_fields(self)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mldeploy.errors import ConfigError

__all__ = ["Between", "bounded", "check_fields", "constraints_of"]

_KEY = "mldeploy.constraint"
_FLAG = "mldeploy.flag"


@dataclass(frozen=True)
class Between:
    """A number in ``[low, high]``; ``high=None`` leaves it unbounded above. None values are not checked."""

    low: float
    high: float | None = None

    def check(self, name: str, value) -> None:
        """Raise ConfigError naming ``name`` unless ``value`` is a number within the bounds (or None)."""
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {str(value)[:40]!r}")
        if value < self.low or (self.high is not None and value > self.high):
            raise ConfigError(f"{name} must be {self.describe()}, got {_number(value)}")

    def describe(self) -> str:
        """The bounds in words: ``in [0, 65535]`` or ``at least 1``."""
        return f"in [{_number(self.low)}, {_number(self.high)}]" if self.high is not None else f"at least {_number(self.low)}"

    def invalid_values(self) -> list[float]:
        """Values just outside the bounds, for tests."""
        step = 1 if isinstance(self.low, int) and isinstance(self.high, (int, type(None))) else 0.001
        return [self.low - step] + ([self.high + step] if self.high is not None else [])


def bounded(default, low: float, high: float | None = None, flag: str | None = None, **field_options):
    """A dataclass field with ``default`` whose value must lie in ``[low, high]`` (see :func:`check_fields`).

    ``flag`` is the command-line option that sets it (``--max-batch``): the error names both, so the
    person who typed the flag and the one who built the dataclass each find their own word.
    """
    metadata = {_KEY: Between(low, high), **({_FLAG: flag} if flag else {})}
    return dataclasses.field(default=default, metadata=metadata, **field_options)


def constraints_of(config_class) -> dict[str, Between]:
    """Each bounded field of a dataclass and its bounds."""
    return {f.name: f.metadata[_KEY] for f in dataclasses.fields(config_class) if _KEY in f.metadata}


def check_fields(config) -> None:
    """Check every bounded field of a dataclass instance; the first one out of bounds raises ConfigError."""
    for field in dataclasses.fields(config):
        if _KEY in field.metadata:
            flag = field.metadata.get(_FLAG)
            field.metadata[_KEY].check(f"{field.name} ({flag})" if flag else field.name, getattr(config, field.name))


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
