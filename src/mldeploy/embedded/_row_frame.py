"""Build a one-row DataFrame in training dtypes with as little pandas work as possible."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mldeploy.bundle.schema import Schema

__all__ = ["RowFrameBuilder"]


class RowFrameBuilder:
    """Turn clean row values (from ``clean_row``) into the frame the bulk validator would give."""

    def __init__(self, schema: Schema):
        self._names = schema.names
        self._dtypes = [self._dtype_of(f) for f in schema.fields]
        self._index = pd.RangeIndex(1)

    @staticmethod
    def _dtype_of(f) -> tuple[str, str]:
        if f.type in ("number", "integer"):
            # As the bulk validator: int64 whatever the training width.
            return ("number", "int64" if f.dtype.startswith(("int", "uint")) else "float64")
        if f.type == "boolean":
            return ("boolean", "bool")
        return ("text", "object")

    def frame(self, values: list) -> pd.DataFrame:
        """Return a one-row DataFrame with the same dtypes the bulk path would produce."""
        columns = {}
        for name, (kind, dtype), value in zip(self._names, self._dtypes, values):
            is_missing = kind != "text" and isinstance(value, float) and math.isnan(value)
            if kind == "text":
                array = np.empty(1, dtype=object)
                array[0] = value
            else:
                array = np.array([value], dtype="float64" if is_missing else dtype)
            columns[name] = array
        return pd.DataFrame(columns, index=self._index, copy=False)
