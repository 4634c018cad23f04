"""Translate between the serving core and the forms adapters speak; no I/O here.

In: JSON bodies and named typed columns (e.g. decoded Open Inference Protocol
tensors). Out: every encoding of a :class:`~mldeploy.serving.result.Prediction`
lives here, so a classifier's labels and probabilities carry the same values
and class names in every architecture:

- :func:`prediction_json`: one JSON object for a whole request (``/predict``);
- :func:`prediction_columns`: named columns (``prediction``, or ``label`` and
  ``probabilities``; the V2 output tensors, typed for their wire in ``api/``);
- :func:`prediction_messages`: one JSON message per row (the stream's predictions);
- :func:`probabilities_json`: one ``{"class": p}`` object per row (the batch store);
- :func:`prediction_frame` and :func:`prediction_arrow`: one row per prediction
  with ``probability_<class>`` columns (batch Parquet output);
- :func:`pack_prediction` and :func:`unpack_prediction`: the arrays as bytes, for
  the streaming scorer's hop between processes.

Class names are ``str(label)`` wherever a name is a key or column. Every
translation error is a SchemaError naming the row or field, worded like
validation's own.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mldeploy._extras import optional
from mldeploy.bundle import BundleRef
from mldeploy.bundle.schema import Schema
from mldeploy.errors import Issue, SchemaError
from mldeploy.serving.result import Prediction, ServingPath

__all__ = [
    "class_names", "columns_to_frame", "pack_prediction", "prediction_arrow", "prediction_columns", "prediction_frame",
    "prediction_json", "prediction_messages", "probabilities_json", "records_from_json", "row_json", "unpack_prediction",
]

_NAME_SHOWN = 60


def records_from_json(body, max_issues: int | None = None) -> list[dict]:
    """Return the rows of a JSON body: one object, or a list of objects.

    Raises SchemaError naming each entry that is not an object (the first ``max_issues`` of them,
    and how many there were, when a limit is given).
    """
    if isinstance(body, Mapping):
        return [dict(body)]
    if not isinstance(body, list):
        raise SchemaError([Issue(None, "(body)", "a JSON object or a list of objects", _kind(body))],
                          hint="send one record or a list of records")
    bad = [index for index, row in enumerate(body) if not isinstance(row, Mapping)]
    if bad:
        shown = bad if max_issues is None else bad[:max_issues]
        raise SchemaError([Issue(index, "(row)", "a JSON object", _kind(body[index])) for index in shown],
                          hint="send each row as an object of field names and values", total=len(bad))
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


def class_names(classes: Sequence) -> list[str]:
    """Return the name of each class label (``str(label)``, in order): the keys and column suffixes of every encoding."""
    return [str(label) for label in classes]


def prediction_json(prediction: Prediction) -> dict:
    """Return plain JSON-ready data: model name and version, path, predictions (and classes, probabilities)."""
    data = {
        "model_name": prediction.ref.name,
        "model_version": prediction.ref.version,
        "path": prediction.path.value,
        "predictions": prediction.values.tolist(),
    }
    if prediction.classes is not None:
        data["classes"] = [_plain(label) for label in prediction.classes]
    if prediction.probabilities is not None:
        data["probabilities"] = prediction.probabilities.tolist()
    return data


def prediction_messages(prediction: Prediction) -> list[bytes]:
    """Return one JSON message per row: ``{"prediction": v}``, or ``{"label": l, "probabilities": {class: p}}``."""
    values = prediction.values.tolist()
    if prediction.probabilities is None:
        numbers = _number_texts(values)
        if numbers is not None:
            return [b'{"prediction":' + number + b"}" for number in numbers]
        return [b'{"prediction":%s}' % json.dumps(v).encode() for v in values]
    names = class_names(prediction.classes)
    return [json.dumps({"label": label, "probabilities": dict(zip(names, row))}).encode()
            for label, row in zip(values, prediction.probabilities.tolist())]


def probabilities_json(prediction: Prediction) -> list[str] | None:
    """Return each row's probabilities as a JSON object ``{"class": p}``, or None without probabilities."""
    if prediction.probabilities is None:
        return None
    names = [json.dumps(name) for name in class_names(prediction.classes)]
    # repr keeps every bit of each float; one format string per row is the cheap way.
    return ["{" + ", ".join(f"{n}: {p!r}" for n, p in zip(names, row)) + "}" for row in prediction.probabilities.tolist()]


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
        for index, name in enumerate(class_names(prediction.classes)):
            frame[f"probability_{name}"] = prediction.probabilities[:, index]
    frame["model_name"] = prediction.ref.name
    frame["model_version"] = prediction.ref.version
    return frame


def prediction_arrow(prediction: Prediction, keys: Sequence | None = None, key_name: str = "key"):
    """Return :func:`prediction_frame` as a pyarrow Table (needs the ``parquet`` extra)."""
    from mldeploy._extras import require

    pyarrow = require("pyarrow")
    return pyarrow.Table.from_pandas(prediction_frame(prediction, keys, key_name), preserve_index=False)


def pack_prediction(prediction: Prediction) -> bytes:
    """Return a prediction as bytes for another process: a JSON header, the labels, the probabilities' float64s.

    Numeric labels travel as their raw array, text labels as JSON: no per-row work, never pickle.
    """
    values, probabilities = prediction.values, prediction.probabilities
    numeric = values.dtype.kind in "fiub"
    header = {"ref": str(prediction.ref), "path": prediction.path.value, "rows": len(values),
              "dtype": values.dtype.str if numeric else None,
              "classes": [_plain(label) for label in prediction.classes] if prediction.classes is not None else None,
              "columns": probabilities.shape[1] if probabilities is not None else None}
    encoded = _dumps(header)
    labels = values.tobytes() if numeric else _dumps([_plain(v) for v in values.tolist()])
    parts = [_SIZE.pack(len(encoded)), encoded, _SIZE.pack(len(labels)), labels]
    if probabilities is not None:
        parts.append(np.ascontiguousarray(probabilities, dtype=np.float64).tobytes())
    return b"".join(parts)


def unpack_prediction(data) -> Prediction:
    """Rebuild the Prediction :func:`pack_prediction` encoded; ValueError if the bytes do not hold one."""
    try:
        return _unpacked(memoryview(data))
    except (struct.error, KeyError, TypeError) as exc:  # truncated bytes, a header without its fields
        raise ValueError(f"the bytes do not hold a packed prediction ({type(exc).__name__}: {exc})") from exc


def _unpacked(body: memoryview) -> Prediction:
    (size,) = _SIZE.unpack_from(body)
    header = _loads(body[_SIZE.size:_SIZE.size + size])
    start = 2 * _SIZE.size + size
    (labels_size,) = _SIZE.unpack_from(body, start - _SIZE.size)
    labels = body[start:start + labels_size]
    if header["dtype"] is not None:
        values = np.frombuffer(labels, dtype=np.dtype(header["dtype"]))
    else:
        values = np.array(_loads(labels), dtype=object)
    probabilities = None
    if header["columns"] is not None:
        probabilities = np.frombuffer(body[start + labels_size:], dtype=np.float64).reshape(-1, header["columns"])
    if len(values) != header["rows"] or (probabilities is not None and len(probabilities) != len(values)):
        raise ValueError("a prediction whose arrays do not match its row count")
    classes = tuple(header["classes"]) if header["classes"] is not None else None
    return Prediction(BundleRef.parse(header["ref"]), ServingPath(header["path"]), values, probabilities, classes)


_SIZE = struct.Struct("<I")
_NUMBER_TYPES = frozenset({float, int})


def row_json(row: Mapping) -> str:
    """Return one input row as compact JSON text (numpy values as numbers, NaN as null, anything else as its text)."""
    fast = optional("orjson")  # several times faster than json when installed
    if fast is not None:
        return fast.dumps(row, default=str, option=fast.OPT_SERIALIZE_NUMPY).decode()
    return json.dumps(row, default=str, separators=(",", ":"))


def _dumps(value) -> bytes:
    fast = optional("orjson")
    return fast.dumps(value) if fast is not None else json.dumps(value).encode()


def _loads(data):
    fast = optional("orjson")
    return fast.loads(data) if fast is not None else json.loads(bytes(data))


def _number_texts(values: list) -> list[bytes] | None:
    """Return each finite number's JSON text from one C-level dump of the whole list, or None if that can't be split.

    A JSON number holds no comma, so the dump splits back into one text per value; anything else
    (text labels, non-finite floats, which orjson writes as null) takes the per-value path.
    """
    fast = optional("orjson")
    if fast is None or not values or not all(type(v) in _NUMBER_TYPES for v in values):
        return None
    try:
        dumped = fast.dumps(values)
    except TypeError:  # an int beyond 64 bits
        return None
    return None if b"null" in dumped else dumped[1:-1].split(b",")


def _plain(value):
    # numpy scalars (np.int64 labels) are not JSON; item() turns them into Python numbers.
    return value.item() if isinstance(value, np.generic) else value


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
