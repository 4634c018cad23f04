"""Byte frames between a scorer and its prediction process: batches of event values out, outcomes back.

Length-prefixed values and a JSON header, never pickle: the values are events from a
topic. Each frame starts with a kind byte and the request's number, so the scorer can
match answers to requests and drop the answers to batches it has rewound.

Requests: ``S`` score a batch, ``R`` answer once a version serves (or the wait ends), ``Q`` exit.
Answers: ``V`` predicted in one call (the arrays; the scorer encodes the messages), ``P`` scored and
encoded, ``N`` no version serves yet, ``Y``/``W`` ready or still waiting, ``E`` an error (JSON: type, message).
"""

from __future__ import annotations

import struct
from array import array
from itertools import accumulate

from mldeploy.serving import codecs
from mldeploy.serving.result import Prediction
from mldeploy.stream.scoring import Scored

__all__ = ["batch_values", "pack", "pack_batch", "pack_prediction", "pack_scored", "unpack", "unpack_prediction",
           "unpack_scored"]

_HEAD = struct.Struct("<cQ")  # kind, request number
_COUNT = struct.Struct("<I")


def pack(kind: bytes, number: int, body: bytes = b"") -> bytes:
    """Return a frame: its kind, the request number it is or answers, and its body."""
    return _HEAD.pack(kind, number) + body


def unpack(frame: bytes) -> tuple[bytes, int, memoryview]:
    """Return (kind, request number, body) of a frame."""
    kind, number = _HEAD.unpack_from(frame)
    return kind, number, memoryview(frame)[_HEAD.size:]


def pack_batch(number: int, values: list[bytes]) -> bytes:
    """A batch of event values to score: their count, their lengths, then the values back to back."""
    return b"".join([_HEAD.pack(b"S", number), _COUNT.pack(len(values)), array("I", map(len, values)).tobytes(), *values])


def batch_values(body: memoryview) -> list[bytes]:
    """The event values of a batch frame's body, in order."""
    return _split(body)[0]


def pack_scored(scored: Scored, count: int, number: int) -> bytes:
    """A batch's outcome: who predicted and what went to the dead letters (JSON), then the predictions.

    Every position of the batch has a prediction or a dead letter; predictions travel in
    position order, so their positions are the ones without a dead letter.
    """
    import orjson

    positions = [p for p in range(count) if p not in scored.dead]
    refs = list(dict.fromkeys(scored.models[p] for p in positions))
    header = {"refs": refs, "dead": [[p, code, reasons] for p, (code, reasons) in scored.dead.items()],
              "ref_of": [refs.index(scored.models[p]) for p in positions] if len(refs) > 1 else None}
    encoded = orjson.dumps(header)
    values = [scored.predictions[p] for p in positions]
    return b"".join([_HEAD.pack(b"P", number), _COUNT.pack(len(encoded)), encoded, _COUNT.pack(len(values)),
                     array("I", map(len, values)).tobytes(), *values])


def pack_prediction(number: int, prediction: Prediction, dead: dict[int, tuple[str, list[str]]]) -> bytes:
    """A batch whose valid events were predicted in one call: its dead letters (JSON), then the prediction's arrays.

    The prediction process's cheapest answer (no per-event work): the scorer encodes
    the messages, on its own core. The arrays travel as :func:`mldeploy.serving.codecs.pack_prediction` lays them out.
    """
    import orjson

    dead_letters = orjson.dumps([[p, code, reasons] for p, (code, reasons) in dead.items()])
    return b"".join([_HEAD.pack(b"V", number), _COUNT.pack(len(dead_letters)), dead_letters,
                     codecs.pack_prediction(prediction)])


def unpack_prediction(body: memoryview) -> tuple[Prediction, dict[int, tuple[str, list[str]]]]:
    """The prediction and the dead letters of a ``V`` answer's body."""
    import orjson

    (size,) = _COUNT.unpack_from(body)
    dead = {p: (code, reasons) for p, code, reasons in orjson.loads(body[_COUNT.size:_COUNT.size + size])}
    return codecs.unpack_prediction(body[_COUNT.size + size:]), dead


def unpack_scored(body: memoryview, count: int) -> Scored:
    """Rebuild the Scored of a batch of ``count`` events from an answer's body."""
    import orjson

    (size,) = _COUNT.unpack_from(body)
    header = orjson.loads(body[_COUNT.size:_COUNT.size + size])
    values, _ = _split(body[_COUNT.size + size:])
    dead = {p: (code, reasons) for p, code, reasons in header["dead"]}
    positions = [p for p in range(count) if p not in dead] if dead else range(count)
    if len(values) != len(positions):
        raise ValueError(f"an answer of {len(values)} predictions for {len(positions)} events without a dead letter")
    refs, ref_of = header["refs"], header["ref_of"]
    if ref_of is None:
        models = dict.fromkeys(positions, refs[0]) if refs else {}
    else:
        models = {p: refs[i] for p, i in zip(positions, ref_of)}
    return Scored(dict(zip(positions, values)), models, dead)


def _split(body: memoryview) -> tuple[list[bytes], int]:
    """Values framed as count, lengths, bytes: the values, and the bytes used."""
    (count,) = _COUNT.unpack_from(body)
    start = _COUNT.size + 4 * count
    lengths = array("I")
    lengths.frombytes(body[_COUNT.size:start])
    ends = list(accumulate(lengths, initial=start))
    data = bytes(body[:ends[-1]])
    return [data[a:b] for a, b in zip(ends, ends[1:])], ends[-1]
