"""The deployment adapters the contract suite runs against.

An adapter turns (bundle, rows) into predictions, raising SchemaError for bad
rows. Each architecture adds its adapters here when it lands, once per
prediction path (the compiled form and scikit-learn); the suite in
test_contract.py then holds every one to the answers of ``pipeline.predict``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mldeploy.embedded import Model

PATHS = {"compiled": True, "sklearn": False}


def _embedded(call: str, use_compiled: bool) -> Callable:
    def predict(bundle, rows) -> np.ndarray:
        model = Model(bundle, use_compiled=use_compiled)
        assert (model.compiled is not None) == use_compiled, model.explain_plan()
        if call == "frame":
            return model.predict(pd.DataFrame.from_records(rows))
        if call == "records":
            return model.predict(rows)
        return np.array([model.predict(row) for row in rows])

    return predict


ADAPTERS: dict[str, Callable] = {
    f"embedded-{call}-{path}": _embedded(call, compiled)
    for call in ("frame", "records", "one-by-one")
    for path, compiled in PATHS.items()
}
