"""The choices callers make as strings, typed and checked where they enter.

A misspelt option (``extra="rejct"``) is a ConfigError naming the choices,
never a silent default.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args

from mldeploy.errors import ConfigError

__all__ = ["EXTRA_CHOICES", "MISSING_CHOICES", "Extra", "Missing", "Task", "check_extra", "check_missing", "check_task"]

Extra = Literal["reject", "ignore"]
"""What to do with input fields the schema does not know: refuse them, or ignore them."""

Missing = Literal["as-given", "as-trained"]
"""How an empty text value reaches the pipeline.

``as-given``: None and NaN reach it as the caller gave them, so Python callers
get exactly ``pipeline.predict``'s answer. ``as-trained``: every empty value
becomes the marker training had; for wire formats that cannot tell None from
NaN (JSON null, an empty CSV cell, an Arrow null).
"""

EXTRA_CHOICES: tuple[str, ...] = get_args(Extra)
MISSING_CHOICES: tuple[str, ...] = get_args(Missing)


class Task(str, Enum):
    """What a pipeline predicts."""

    REGRESSION = "regression"
    CLASSIFICATION = "classification"

    def __str__(self) -> str:
        return self.value


def check_extra(value) -> Extra:
    """Return ``value`` if it is a valid ``extra`` option, else raise ConfigError."""
    return _check("extra", value, EXTRA_CHOICES)


def check_missing(value) -> Missing:
    """Return ``value`` if it is a valid ``missing`` option, else raise ConfigError."""
    return _check("missing", value, MISSING_CHOICES)


def check_task(value) -> Task:
    """Return ``value`` as a Task, or raise ConfigError naming the tasks."""
    return Task(_check("task", str(value) if isinstance(value, Task) else value, tuple(t.value for t in Task)))


def _check(option: str, value, choices: tuple[str, ...]):
    if isinstance(value, str) and value in choices:
        return value
    shown = ", ".join(f'"{c}"' for c in choices)
    raise ConfigError(f"{option}={str(value)[:40]!r} is not a valid choice; expected one of {shown}")
