"""The deployment adapters the contract suite runs against.

An adapter turns (bundle, rows) into predictions, raising SchemaError for bad
rows. Each architecture adds its adapter here when it lands; the suite in
test_contract.py then holds it to the same answers as ``pipeline.predict``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mldeploy.embedded import Model


def embedded_frame(bundle, rows) -> np.ndarray:
    """Embedded: one call with a DataFrame."""
    import pandas as pd

    return Model(bundle).predict(pd.DataFrame.from_records(rows))


def embedded_records(bundle, rows) -> np.ndarray:
    """Embedded: one call with a list of dicts."""
    return Model(bundle).predict(rows)


def embedded_one_by_one(bundle, rows) -> np.ndarray:
    """Embedded: one call per dict (the single-row path)."""
    model = Model(bundle)
    return np.array([model.predict(row) for row in rows])


ADAPTERS: dict[str, Callable] = {
    "embedded-frame": embedded_frame,
    "embedded-records": embedded_records,
    "embedded-one-by-one": embedded_one_by_one,
}
