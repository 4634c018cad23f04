"""Translate between the serving core and the forms adapters speak; no I/O here.

In: JSON bodies and named typed columns (e.g. decoded Open Inference Protocol
tensors). Out: plain columns, DataFrames and Arrow tables built from a
:class:`~mldeploy.serving.result.Prediction`. Every translation error is a
SchemaError naming the row or field, worded like validation's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mldeploy.bundle.schema import Field, Schema
from mldeploy.errors import Issue, SchemaError
from mldeploy.serving.result import Prediction

__all__ = [
    "TENSOR_DATATYPES", "columns_to_frame", "prediction_arrow", "prediction_columns", "prediction_frame",
    "records_from_json", "tensor_datatype",
]

TENSOR_DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "category": "BYTES", "string": "BYTES"}
"""Open Inference Protocol datatype of each schema field type."""

_NAME_SHOWN = 60


def tensor_datatype(field: Field) -> str:
    """Return the Open Inference Protocol datatype that carries ``field``."""
    return TENSOR_DATATYPES[field.type]


def records_from_json(body) -> list[dict]:
    """Return the rows of a JSON body: one object, or a list of objects.

    Raises SchemaError naming each entry that is not an object.
    """
    if isinstance(body, Mapping):
        return [dict(body)]
    if not isinstance(body, list):
        raise SchemaError([Issue(None, "(body)", "a JSON object or a list of objects", _kind(body))],
                          hint="send one record or a list of records")
    bad = [Issue(index, "(row)", "a JSON object", _kind(row)) for index, row in enumerate(body) if not isinstance(row, Mapping)]
    if bad:
        raise SchemaError(bad, hint="send each row as an object of field names and values")
    return body


def columns_to_frame(columns: Mapping[str, Sequence | np.ndarray], schema: Schema) -> pd.DataFrame:
    """Return a frame for :meth:`Model.infer` from named columns of equal length.

    Texts may arrive as bytes (Open Inference Protocol BYTES) and are decoded as
    UTF-8. A column the schema does not know is kept, so ``extra`` decides; a
    ragged column or undecodable text is a SchemaError naming the field.
    """
    lengths = {name: len(values) for name, values in columns.items()}
    rows = max(lengths.values(), default=0)
    issues = [Issue(None, _short(name), f"{rows} values like the other inputs", f"{count} values")
              for name, count in lengths.items() if count != rows]
    decoded = {}
    for name, values in columns.items():
        field = schema.by_name.get(name)
        text = field is not None and field.type in ("category", "string")
        decoded[name], bad = _decoded(values) if text else (values, [])
        issues += [Issue(row, _short(name), "UTF-8 text", repr(raw[:20])) for row, raw in bad]
    if issues:
        raise SchemaError(issues, hint="send every input with one value per row")
    return pd.DataFrame({name: _column(values) for name, values in decoded.items()}, index=pd.RangeIndex(rows))


def prediction_columns(prediction: Prediction) -> dict[str, np.ndarray]:
    """Return named output columns: ``prediction`` for a regressor; ``label`` and ``probabilities`` for a classifier."""
    if prediction.classes is None:
        return {"prediction": np.asarray(prediction.values, dtype="float64")}
    columns = {"label": np.asarray(prediction.values, dtype=object)}
    if prediction.probabilities is not None:
        columns["probabilities"] = np.asarray(prediction.probabilities, dtype="float64")
    return columns


def prediction_frame(prediction: Prediction, keys: Sequence | None = None, key_name: str = "key") -> pd.DataFrame:
    """Return one row per prediction: optional key, ``prediction`` (and ``probability_<class>``), model and version."""
    frame = pd.DataFrame(index=pd.RangeIndex(len(prediction)))
    if keys is not None:
        frame[key_name] = list(keys)
    frame["prediction"] = prediction.values
    if prediction.probabilities is not None:
        for index, label in enumerate(prediction.classes):
            frame[f"probability_{label}"] = prediction.probabilities[:, index]
    frame["model_name"] = prediction.ref.name
    frame["model_version"] = prediction.ref.version
    return frame


def prediction_arrow(prediction: Prediction, keys: Sequence | None = None, key_name: str = "key"):
    """Return :func:`prediction_frame` as a pyarrow Table (needs the ``parquet`` extra)."""
    from mldeploy._extras import require

    pyarrow = require("pyarrow")
    return pyarrow.Table.from_pandas(prediction_frame(prediction, keys, key_name), preserve_index=False)


def _decoded(values) -> tuple[list, list]:
    if not any(kind in (bytes, bytearray) for kind in set(map(type, values))):
        return values, []  # already text (and empties): nothing to decode, no Python loop per value
    out, bad = [], []
    for row, value in enumerate(values):
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                bad.append((row, bytes(value)))
        out.append(value)
    return out, bad


def _column(values):
    return values if isinstance(values, np.ndarray) else list(values)


def _short(name) -> str:
    text = str(name)
    return text if len(text) <= _NAME_SHOWN else text[:_NAME_SHOWN] + "…"


def _kind(value) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
