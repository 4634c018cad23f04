"""Build a one-row DataFrame in training dtypes with as little pandas work as possible."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mldeploy.bundle.schema import Schema

__all__ = ["RowFrameBuilder"]

try:  # pandas' own block-manager constructor: half the cost of DataFrame(dict) for one row
    from pandas.core.internals.construction import arrays_to_mgr as _arrays_to_mgr

    _from_mgr = pd.DataFrame._from_mgr
except (ImportError, AttributeError):  # another pandas: the public constructor gives the same frame
    _arrays_to_mgr = _from_mgr = None


class RowFrameBuilder:
    """Turn a clean row (from the row check, :func:`~mldeploy.validation.fast_row.make_row_cleaner`) into the frame the bulk validator would give."""

    def __init__(self, schema: Schema):
        self._names = schema.names
        self._dtypes = [self._dtype_of(f) for f in schema.fields]
        self._index = pd.RangeIndex(1)
        self._columns = pd.Index(self._names)

    @staticmethod
    def _dtype_of(f) -> tuple[str, str]:
        if f.type in ("number", "integer"):
            # As the bulk validator: int64 whatever the training width.
            return ("number", "int64" if f.dtype.startswith(("int", "uint")) else "float64")
        if f.type == "boolean":
            return ("boolean", "bool")
        return ("text", "object")

    def frame(self, row: Mapping) -> pd.DataFrame:
        """Return a one-row DataFrame of a clean row (fields in schema order) with the dtypes the bulk path would give."""
        arrays = [self._array(kind, dtype, value) for (kind, dtype), value in zip(self._dtypes, row.values())]
        if _arrays_to_mgr is not None:
            try:
                manager = _arrays_to_mgr(arrays, self._columns, self._index, verify_integrity=False, typ="block", consolidate=False)
                return _from_mgr(manager, axes=manager.axes)
            except TypeError:  # a pandas whose private signature moved: use the public path from now on
                _disable_private_path()
        return pd.DataFrame(dict(zip(self._names, arrays)), index=self._index, copy=False)

    @staticmethod
    def _array(kind: str, dtype: str, value) -> np.ndarray:
        if kind == "text":
            array = np.empty(1, dtype=object)
            array[0] = value
            return array
        is_missing = isinstance(value, float) and math.isnan(value)
        # As the bulk validator: a whole number past int64's range stays a float (2.0**63 would overflow).
        return np.array([value], dtype="float64" if is_missing or abs(value) >= 2**63 else dtype)


def _disable_private_path() -> None:
    global _arrays_to_mgr
    _arrays_to_mgr = None
