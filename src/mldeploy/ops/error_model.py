"""Estimate a model's error before the truth arrives (direct loss estimation, as NannyML's DLE).

At training time a small gradient-boosting model learns, on the held-out
rows, how large the pipeline's loss is given the row's inputs and the
pipeline's own prediction: the absolute error of a regressor, a 0/1 miss of
a classifier. Stored in the bundle (skops, covered by the manifest's
digests), it predicts the expected loss of new rows, so a drift check can
say "estimated MAE 9,100, against 7,400 on held-out rows" weeks before the
true salaries are known. It sees covariate shift (new inputs the pipeline
handles worse), not a change of the target's meaning (pay inflation with
the same inputs): for that, `validate` on the truth remains the measure.

Example::

    errors = ErrorModel.fit(x_test, y_test, pipeline.predict(x_test), "regression")
    errors.estimate(new_rows, model.predict(new_rows))     # expected MAE of these rows
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mldeploy._literal_parsing import PARSING_LITERALS
from mldeploy.errors import BundleError, shorten

__all__ = ["ERROR_MODEL_FILE", "ERROR_MODEL_INFO", "ErrorModel"]

ERROR_MODEL_FILE = "error_model.skops"
ERROR_MODEL_INFO = "error_model.json"
_PREDICTION = "__prediction__"
_MIN_ROWS = 50
# Small on purpose: it learns where the error is large, not the target; 60 trees of 8 leaves keep it ~100 KB.


@dataclass(frozen=True)
class ErrorModel:
    """A fitted estimator of a pipeline's per-row loss, with what it was measured against."""

    estimator: object
    metric: str
    """``mae`` for a regressor (mean absolute error), ``error_rate`` for a classifier (share of wrong labels)."""
    held_out: float
    """The metric measured on the held-out rows the estimator was fitted on."""
    rows: int

    @classmethod
    def fit(cls, features: pd.DataFrame, labels, predictions, task: str, seed: int = 0) -> "ErrorModel | None":
        """Fit on held-out rows: their features, true labels and the pipeline's predictions; None if too few rows."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        if len(features) < _MIN_ROWS:
            return None
        truth, predicted = np.asarray(labels), np.asarray(predictions)
        if task == "regression":
            loss, metric = np.abs(truth.astype("float64") - predicted.astype("float64")), "mae"
        else:
            loss, metric = (truth.astype(str) != predicted.astype(str)).astype("float64"), "error_rate"
        inputs = _inputs(features, predicted)
        encoder = _encoder(inputs)
        from sklearn.pipeline import Pipeline

        booster = HistGradientBoostingRegressor(max_iter=60, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=40,
                                                categorical_features=_categorical_mask(inputs), random_state=seed)
        estimator = Pipeline([("encode", encoder), ("loss", booster)]).fit(inputs, loss)
        return cls(estimator, metric, float(loss.mean()), int(len(loss)))

    def estimate_rows(self, features: pd.DataFrame, predictions) -> np.ndarray:
        """Return the expected loss of each row (never below 0)."""
        if len(features) == 0:
            return np.empty(0)
        return np.clip(self.estimator.predict(_inputs(features, np.asarray(predictions))), 0.0, None)

    def estimate(self, features: pd.DataFrame, predictions) -> float | None:
        """Return the expected metric over these rows (their mean expected loss); None for no rows."""
        losses = self.estimate_rows(features, predictions)
        return float(losses.mean()) if losses.size else None

    def to_files(self) -> dict[str, bytes]:
        """Return the bundle files that hold this model (for ``Bundle.from_pipeline(..., extra_files=...)``)."""
        import skops.io

        info = {"metric": self.metric, "held_out": self.held_out, "rows": self.rows}
        data = skops.io.dumps(self.estimator, compression=zipfile.ZIP_DEFLATED)  # small trees: mostly repeated headers
        return {ERROR_MODEL_FILE: data, ERROR_MODEL_INFO: json.dumps(info).encode()}

    @classmethod
    def from_bundle(cls, bundle) -> "ErrorModel | None":
        """Load the bundle's error model, digests checked; None for a bundle made without one."""
        import skops.io

        from mldeploy.bundle.trust import check_trusted

        if ERROR_MODEL_FILE not in bundle.manifest.files or ERROR_MODEL_INFO not in bundle.manifest.files:
            return None
        data = bundle.read_file(ERROR_MODEL_FILE)
        try:
            info = json.loads(bundle.read_file(ERROR_MODEL_INFO))
            with PARSING_LITERALS:
                estimator = skops.io.loads(data, trusted=check_trusted(skops.io.get_untrusted_types(data=data)))
            return cls(estimator, str(info["metric"]), float(info["held_out"]), int(info["rows"]))
        except BundleError:
            raise
        except Exception as exc:  # skops and json raise many types on a bad file; all mean the same here
            raise BundleError(f"{ERROR_MODEL_FILE} of {bundle.ref} cannot be loaded ({shorten(exc, 200)}); "
                              "the bundle is corrupt") from exc


def _inputs(features: pd.DataFrame, predictions: np.ndarray) -> pd.DataFrame:
    """Return the estimator's input: every feature (text as text, empty as "") and the prediction."""
    columns = {}
    for name in features.columns:
        column = features[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            columns[str(name)] = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            columns[str(name)] = column.astype(str).where(column.notna(), "").to_numpy(dtype=object)
    numeric = predictions.dtype.kind in "fiu"
    columns[_PREDICTION] = predictions.astype("float64") if numeric else predictions.astype(str).astype(object)
    return pd.DataFrame(columns)


def _categorical_mask(inputs: pd.DataFrame) -> list[bool]:
    # The encoder puts the text columns first, in order: the mask follows its output, not the input.
    text = [name for name in inputs.columns if inputs[name].dtype == object]
    return [True] * len(text) + [False] * (len(inputs.columns) - len(text))


def _encoder(inputs: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    text = [name for name in inputs.columns if inputs[name].dtype == object]
    numbers = [name for name in inputs.columns if inputs[name].dtype != object]
    # Unseen values become missing, which the booster routes as it learnt to; HGB takes at most 255 categories.
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=250)
    return ColumnTransformer([("text", ordinal, text), ("numbers", "passthrough", numbers)])
