"""How a value from the input is shown in an error message: JSON-like, text cut short.

Validation and the compiled encoder both name bad values; they show them the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["show_value", "type_name"]

_MAX_GOT_CHARS = 40


def show_value(value) -> str:
    """Return a value as error messages show it (JSON-like, text cut short)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= _MAX_GOT_CHARS else value[:_MAX_GOT_CHARS] + "..."
        return f'"{text}"'
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    return type_name(value)


def type_name(value) -> str:
    """Return "a list", "an int" or "null": the kind of a value that has no shorter showing."""
    name = "null" if value is None else type(value).__name__
    return name if value is None else ("an " if name[0] in "aeiou" else "a ") + name
