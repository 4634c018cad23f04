"""Frames between a scorer and its prediction process: every outcome survives the trip byte for byte."""

import numpy as np
import pytest

from mldeploy.serving.result import Prediction, ServingPath
from mldeploy.bundle import BundleRef
from mldeploy.stream import _frames
from mldeploy.stream.scoring import Scored

pytestmark = pytest.mark.timeout(30)

REF = BundleRef("salary", 3)


def _body(frame: bytes, kind: bytes, number: int) -> memoryview:
    got_kind, got_number, body = _frames.unpack(frame)
    assert (got_kind, got_number) == (kind, number)
    return body


def test_a_batch_keeps_every_value_and_its_bytes():
    values = [b'{"age": 29}', b"", b"\x00\xff not utf-8", b"x" * 70_000, b"{}"]
    assert _frames.batch_values(_body(_frames.pack_batch(7, values), b"S", 7)) == values
    assert _frames.batch_values(_body(_frames.pack_batch(8, []), b"S", 8)) == []


def test_a_scored_batch_keeps_positions_dead_letters_and_versions():
    scored = Scored({0: b'{"prediction":1.5}', 2: b'{"prediction":2}', 3: b'{"prediction":3}'},
                    {0: "salary@1", 2: "salary@2", 3: "salary@1"},
                    {1: ("invalid-event", ['field "age": expected a number, got "old"', "a second reason"])})
    back = _frames.unpack_scored(_body(_frames.pack_scored(scored, 4, 9), b"P", 9), 4)
    assert back == scored


def test_a_batch_of_only_dead_letters():
    scored = Scored(dead={0: ("invalid-event", ["the message is not JSON"]), 1: ("model-refused", ["no"])})
    assert _frames.unpack_scored(_body(_frames.pack_scored(scored, 2, 1), b"P", 1), 2) == scored


def test_an_answer_that_does_not_cover_its_batch_is_refused():
    frame = _frames.pack_scored(Scored({0: b"1"}, {0: "salary@1"}), 1, 1)
    with pytest.raises(ValueError, match="1 predictions for 2 events"):
        _frames.unpack_scored(_body(frame, b"P", 1), 2)


@pytest.mark.parametrize("values, probabilities, classes", [
    (np.array([101_234.5, 88_000.25, -1e-300]), None, None),
    (np.array([3, 1, 2], dtype=np.int64), None, None),
    (np.array(["senior", "junior", "lead"], dtype=object), np.array([[0.1, 0.9], [0.6, 0.4], [0.5, 0.5]]), ("a", "b")),
    (np.array([True, False, True]), np.array([[0.2, 0.8], [0.7, 0.3], [0.0, 1.0]]), (False, True)),
], ids=["regression", "integer labels", "text labels", "boolean labels"])
def test_a_prediction_crosses_as_its_arrays(values, probabilities, classes):
    prediction = Prediction(REF, ServingPath.COMPILED, values, probabilities, classes)
    dead = {3: ("invalid-event", ["the message is not JSON"])}
    back, back_dead = _frames.unpack_prediction(_body(_frames.pack_prediction(4, prediction, dead), b"V", 4))
    assert str(back.ref) == "salary@3" and back.path is ServingPath.COMPILED and back_dead == dead and back.classes == classes
    assert back.values.tolist() == values.tolist() and back.values.dtype == values.dtype
    if probabilities is None:
        assert back.probabilities is None
    else:
        assert back.probabilities.tolist() == probabilities.tolist()


def test_error_and_readiness_frames_carry_their_request_number():
    assert _frames.unpack(_frames.pack(b"N", 2**40))[:2] == (b"N", 2**40)
    assert bytes(_frames.unpack(_frames.pack(b"E", 3, b'{"type": "X"}'))[2]) == b'{"type": "X"}'
