"""The committed descriptor set is what the regenerate command writes, and our messages load beside tritonclient's."""

import pytest

from mldeploy.api.grpc import messages

pytestmark = pytest.mark.timeout(60)


def test_the_committed_descriptor_set_is_what_protoc_writes_from_the_proto(tmp_path):
    assert messages.regenerate(tmp_path / "inference.binpb") == messages.DESCRIPTOR_SET.read_bytes()


def test_our_messages_and_tritonclients_share_the_wire_in_one_process():
    from tritonclient.grpc import service_pb2

    ours = messages.message("ModelInferRequest")(model_name="salary", model_version="2", raw_input_contents=[b"\x01"])
    ours.inputs.add(name="age", datatype="INT64", shape=[1]).contents.int64_contents.append(41)
    theirs = service_pb2.ModelInferRequest.FromString(ours.SerializeToString())
    assert (theirs.model_name, theirs.inputs[0].contents.int64_contents[0], theirs.raw_input_contents[0]) == ("salary", 41, b"\x01")
    service = messages.pool().FindServiceByName(messages.SERVICE)
    assert [m.name for m in service.methods] == ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
                                                 "ModelMetadata", "ModelInfer"]
