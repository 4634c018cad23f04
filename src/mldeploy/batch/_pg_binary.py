"""Build PostgreSQL's binary COPY stream for a chunk of predictions; no I/O.

Binary COPY sends each float as its eight bytes (every bit kept, nothing for
the server to parse) and each row as its field count, then every field's
length and bytes, big-endian. A chunk's rows differ only in key and value
(label and probabilities for a classifier), so the fixed part of every row is
laid out at once as a numpy record and the text fields are joined behind it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from mldeploy.batch.chunk import ScoredChunk
from mldeploy.serving import codecs

__all__ = ["COPY_COLUMNS", "copy_rows"]

COPY_COLUMNS = "model_version, predicted_at, value, model_name, run_id, label, probabilities, key"
"""The order of the fields in every row: fixed-size ones first, then the texts."""
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2  # flags, then header extension length
_TRAILER = b"\xff\xff"
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_NULL = -1


def copy_rows(chunk: ScoredChunk, name: str, version: int, run_id: str, at: datetime) -> list:
    """Return the COPY ... (FORMAT binary) stream of ``chunk``'s rows as buffers to send in turn, header to trailer.

    Rows whose texts have the same lengths have the same size, so each such group is one numpy
    record array; the groups follow each other (a table has no row order to keep).
    """
    texts = [_encodable(chunk.keys.tolist())]
    if chunk.is_classification:
        texts = [_encodable([str(label) for label in chunk.values.tolist()]), _encodable(codecs.probabilities_json(chunk.prediction)),
                 *texts]
    count = len(chunk.keys)
    parts = [_SIGNATURE]
    if count:
        lengths = np.stack([np.fromiter(map(len, column), dtype=np.int64, count=count) for column in texts], axis=1)
        code = np.zeros(count, dtype=np.int64)
        for i in range(lengths.shape[1]):  # one sortable number per combination of lengths
            code = code * (int(lengths[:, i].max()) + 1) + lengths[:, i]
        order = np.argsort(code, kind="stable")
        bounds = np.flatnonzero(np.diff(code[order])) + 1
        for rows in np.split(order, bounds):
            shape = [int(n) for n in lengths[rows[0]]]
            parts.append(memoryview(_group(chunk, texts, rows, shape, name, version, run_id, at)).cast("B"))
    parts.append(_TRAILER)
    return parts


def _encodable(texts: list) -> np.ndarray:
    """Texts as numpy turns them into bytes: str when all ASCII (numpy encodes those itself), else UTF-8 bytes."""
    column = np.empty(len(texts), dtype=object)
    column[:] = texts if "".join(texts).isascii() else [text.encode() for text in texts]
    return column


def _group(chunk: ScoredChunk, texts: list[np.ndarray], rows: np.ndarray, lengths: list[int], name: str, version: int,
           run_id: str, at: datetime) -> np.ndarray:
    """Lay out the rows ``rows``, whose texts have ``lengths`` (in bytes), as one record array."""
    name_bytes, run_bytes = name.encode(), run_id.encode()
    regressor = len(texts) == 1
    value = [("value_length", ">i4"), ("value", ">f8")] if regressor else [("value_null", ">i4")]
    label_and_probabilities = [("label_null", ">i4"), ("probabilities_null", ">i4")] if regressor else []
    text_fields = [field for i, n in enumerate(lengths) for field in [(f"length{i}", ">i4")] + ([(f"text{i}", f"S{n}")] if n else [])]
    values = chunk.values[rows]
    record = np.empty(len(values), dtype=np.dtype([
        ("fields", ">i2"), ("version_length", ">i4"), ("version", ">i4"), ("at_length", ">i4"), ("at", ">i8"), *value,
        ("name_length", ">i4"), ("name", f"S{len(name_bytes)}"), ("run_length", ">i4"), ("run", f"S{len(run_bytes)}"),
        *label_and_probabilities, *text_fields]))
    record["fields"] = 8
    record["version_length"], record["version"] = 4, version
    record["at_length"], record["at"] = 8, _microseconds(at)
    if regressor:
        record["value_length"], record["value"] = 8, values.astype(np.float64)
        record["label_null"] = record["probabilities_null"] = _NULL
    else:
        record["value_null"] = _NULL
    record["name_length"], record["name"] = len(name_bytes), name_bytes
    record["run_length"], record["run"] = len(run_bytes), run_bytes
    for i, (column, n) in enumerate(zip(texts, lengths)):
        record[f"length{i}"] = n
        if n:
            record[f"text{i}"] = column[rows].astype(f"S{n}")
    return record


def _microseconds(at: datetime) -> int:
    delta = at.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
