"""ModelInfer requests as the server reads them: input descriptions left encoded, checked once, then recognised."""

import re

import pytest

from mldeploy.api.errors import MalformedRequestError
from mldeploy.api.grpc import messages, translate
from mldeploy.api.grpc.records import infer_request

pytestmark = pytest.mark.timeout(30)
ROWS = [{"age": 30, "hours": 40.5, "city": "Oslo", "remote": True}, {"age": 41, "hours": 38.0, "city": None, "remote": False}]


def _framed(message):
    return messages.infer_request_frames().FromString(message.SerializeToString())


def _typed_request():
    message = messages.message("ModelInferRequest")(model_name="salary", id="typed")
    message.inputs.add(name="age", datatype="INT64", shape=[2]).contents.int64_contents.extend([30, 41])
    message.inputs.add(name="city", datatype="BYTES", shape=[2]).contents.bytes_contents.extend([b"Oslo", b""])
    return message


@pytest.mark.parametrize("make", [lambda: infer_request(messages.message("ModelInferRequest")(), "salary", ROWS, "ignore", []),
                                  _typed_request], ids=["raw", "typed"])
def test_a_framed_request_decodes_as_the_published_message_does(make):
    message = make()
    framed = _framed(message)
    assert all(isinstance(tensor, bytes) for tensor in framed.inputs)
    assert (framed.model_name, framed.id, translate.extra_of(framed)) == (message.model_name, message.id, translate.extra_of(message))
    for _ in range(2):  # the second time, every description is recognised by its bytes
        assert translate.decode_infer_request(framed).records() == translate.decode_infer_request(message).records()


def test_a_bad_description_is_refused_every_time_and_never_remembered():
    message = messages.message("ModelInferRequest")(model_name="salary")
    tensor = message.inputs.add(name="age", datatype="INT64", shape=[1])
    tensor.contents.int64_contents.append(3)
    message.raw_input_contents.append(b"\0" * 8)
    framed = _framed(message)
    for _ in range(2):
        with pytest.raises(MalformedRequestError, match=re.escape('input "age" has typed contents (int64_contents)')):
            translate.decode_infer_request(framed)
    assert framed.inputs[0] not in translate._LAYOUTS


def test_remembered_descriptions_stay_bounded():
    for index in range(translate._LAYOUTS_KEPT + 10):
        rows = [{f"field_{index}": 1.5}]
        translate.decode_infer_request(_framed(infer_request(messages.message("ModelInferRequest")(), "m", rows, "reject", [])))
    assert 0 < len(translate._LAYOUTS) <= translate._LAYOUTS_KEPT
