"""The plain V2 JSON request read in one typed pass: the same request the full path reads, or left to it."""

import random

import orjson
import pytest

from mldeploy.api import protocol, typed_infer
from mldeploy.api.errors import MalformedRequestError

pytestmark = pytest.mark.timeout(60)


def _body(*tensors, **top) -> bytes:
    return orjson.dumps({"inputs": list(tensors), **top})


def _tensor(name, datatype, data, shape=None) -> dict:
    return {"name": name, "datatype": datatype, "shape": [len(data)] if shape is None else shape, "data": data}


def _full(body: bytes) -> protocol.InferRequest:
    """What the full path reads (the plain reader switched off); compared by repr, since 1 == 1.0 == True and -0.0 == 0.0."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(protocol, "read_plain", lambda body: None)
        return protocol.parse_infer_request(body, None)


@pytest.mark.parametrize("body", [
    _body(_tensor("age", "INT64", [33]), _tensor("hours", "FP64", [40.5]), _tensor("city", "BYTES", ["Oslo"]),
          _tensor("remote", "BOOL", [True])),
    _body(_tensor("age", "INT64", [33, None, -7]), _tensor("hours", "FP32", [1, 2.5, None]),
          _tensor("city", "BYTES", ["Oslo", None, "Rome"])),
    _body(_tensor("age", "INT64", [2**63 - 1]), _tensor("hours", "FP16", [-(2**63)])),  # the ends of int64
    _body(_tensor("hours", "FP64", [-0.0, 5e-324, 1.7976931348623157e308], shape=[3])),
    _body(_tensor("age", "INT64", [1]), id="request-9", outputs=[{"name": "prediction", "parameters": {"binary_data": True}}],
          parameters={"binary_data_output": False}),
    _body(_tensor("age", "INT64", []), _tensor("hours", "FP64", [])),
])
def test_a_plain_body_reads_as_the_full_path_reads_it(body):
    assert typed_infer.read_plain(body) is not None
    assert repr(protocol.parse_infer_request(body, None)) == repr(_full(body))


@pytest.mark.parametrize("body", [
    _body(_tensor("city", "BYTES", [""])),  # empty text is missing: the full path says so
    _body(_tensor("city", "BYTES", ["Os\\u006co"])),  # an escape
    _body({**_tensor("age", "INT64", [1]), "parameters": {"binary_data_size": 8}}),
    _body({**_tensor("age", "INT64", [1]), "note": "unknown key"}),
    _body(_tensor("age", "INT64", [1]), note="unknown key"),
    _body(_tensor("age", "INT64", [2**63])),  # past int64: orjson's reading stands
    _body(_tensor("age", "INT64", [True])),
    _body(_tensor("age", "INT64", [1.5])),
    _body(_tensor("hours", "FP64", [1, 2], shape=[3])),
    _body(_tensor("hours", "FP64", [[1], [2]], shape=[2, 1])),
    _body(_tensor("a", "FP64", [1]), _tensor("a", "FP64", [2])),
    _body(_tensor("a", "FP64", [1]), _tensor("b", "FP64", [1, 2])),
    _body(_tensor("a", "TEXT", [1])),
    _body(_tensor("a", "FP64", [1]), id=7),
    _body(_tensor("a", "FP64", [1]), parameters={"deep": {"er": 1}}),
    _body(),
    b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [1e400]}]}',
    b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [1], "data": [NaN]}]}',
    b'{"inputs": [] ',
])
def test_anything_else_is_left_to_the_full_path(body):
    assert typed_infer.read_plain(body) is None


@pytest.mark.parametrize("before_datatype", [b'"data": ' + b"[" * 5000 + b"]" * 5000,
                                             b'"note": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000])
def test_a_deep_value_before_the_datatype_is_left_to_the_full_path_which_refuses_it(before_datatype):
    # msgspec looks ahead for the tag by skipping the keys before it, recursively: past its limit, a RecursionError.
    body = b'{"inputs": [{"name": "a", "shape": [1], ' + before_datatype + b', "datatype": "FP64"}]}'
    assert typed_infer.read_plain(body) is None
    with pytest.raises(MalformedRequestError, match="nests deeper than 64 levels"):
        protocol.parse_infer_request(body, None)


def test_what_the_full_path_refuses_is_refused_with_its_words():
    body = _body(_tensor("a", "FP64", [1]), _tensor("a", "FP64", [1]))
    with pytest.raises(MalformedRequestError, match='input "a" is given twice'):
        protocol.parse_infer_request(body, None)


def test_many_random_requests_read_alike_on_both_paths():
    generate = random.Random(11)
    kinds = {"FP64": lambda: generate.choice([generate.uniform(-1e9, 1e9), generate.randint(-10**18, 10**18), None,
                                             generate.random() * 10.0 ** generate.randint(-300, 300)]),
             "INT64": lambda: generate.choice([generate.randint(-2**63, 2**63 - 1), None, 0]),
             "BYTES": lambda: generate.choice(["Oslo", "Zürich", "東京", "a b\tc", None]),
             "BOOL": lambda: generate.choice([True, False, None])}
    plain = 0
    for _ in range(300):
        rows = generate.choice([1, 1, 2, 5])
        tensors = [_tensor(f"f{i}", datatype, [kinds[datatype]() for _ in range(rows)])
                   for i, datatype in enumerate(generate.choices(list(kinds), k=generate.randint(1, 8)))]
        body = _body(*tensors)
        plain += typed_infer.read_plain(body) is not None  # not those with an escaped tab
        assert repr(protocol.parse_infer_request(body, None)) == repr(_full(body)), body
    assert plain > 150


def test_without_msgspec_every_request_takes_the_full_path(monkeypatch):
    monkeypatch.setattr(typed_infer, "_decoders", lambda: None)
    body = _body(_tensor("age", "INT64", [33]))
    assert typed_infer.read_plain(body) is None
    assert protocol.parse_infer_request(body, None).columns == {"age": [33]}
