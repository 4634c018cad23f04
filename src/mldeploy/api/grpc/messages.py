"""The protocol's message classes, built from the committed descriptor set in a descriptor pool of our own.

A private pool, not protobuf's default one: tritonclient registers Triton's
superset of the same ``inference`` package in the default pool, and two files
defining one symbol there refuse to load together. Our pool also holds the
health-checking service's file so server reflection can describe both services.

``open_inference_grpc.binpb`` is generated from ``open_inference_grpc.proto``
by ``python -m mldeploy.api.grpc.messages --regenerate`` (needs grpcio-tools);
a test checks the committed file is what that command writes.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["DESCRIPTOR_SET", "PROTO", "SERVICE", "infer_request_frames", "message", "pool", "regenerate"]

HERE = Path(__file__).parent
PROTO = HERE / "open_inference_grpc.proto"
DESCRIPTOR_SET = HERE / "open_inference_grpc.binpb"
SERVICE = "inference.GRPCInferenceService"
"""The service's full name, as clients call it: /inference.GRPCInferenceService/ModelInfer."""


@functools.cache
def pool() -> descriptor_pool.DescriptorPool:
    """Return the pool holding the protocol's file and the health-checking service's (built once)."""
    from grpc_health.v1 import health_pb2

    built = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    health = descriptor_pb2.FileDescriptorProto()
    health_pb2.DESCRIPTOR.CopyToProto(health)
    for file in (*files, health):
        built.Add(file)
    return built


def message(name: str):
    """Return the message class of ``inference.<name>`` (e.g. ``ModelInferRequest``)."""
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(f"inference.{name}"))


@functools.cache
def infer_request_frames():
    """Return ``ModelInferRequest`` as the server reads it: the same fields, but each input tensor left encoded (bytes).

    Wire-compatible with ModelInferRequest (same field numbers; a tensor is a length-delimited field
    either way). Clients send the same few tensor descriptions call after call, so the server can
    check each description once and recognise its bytes afterwards (:mod:`mldeploy.api.grpc.translate`).
    Kept in a pool of its own: reflection describes only the published protocol.
    """
    request = descriptor_pb2.DescriptorProto()
    message("ModelInferRequest").DESCRIPTOR.CopyToProto(request)
    request.name = "ModelInferRequestFrames"
    for field in request.field:
        if field.name == "inputs":
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
        elif field.HasField("type_name"):  # the nested types (the parameters' map entry) are the copy's own
            field.type_name = field.type_name.replace(".inference.ModelInferRequest.", ".inference.ModelInferRequestFrames.")
    frames = descriptor_pb2.FileDescriptorProto(name="mldeploy_infer_request_frames.proto", package="inference",
                                                syntax="proto3", dependency=[PROTO.name], message_type=[request])
    own = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file:
        own.Add(file)
    own.Add(frames)
    return message_factory.GetMessageClass(own.FindMessageTypeByName("inference.ModelInferRequestFrames"))


def regenerate(out: Path = DESCRIPTOR_SET) -> bytes:
    """Compile PROTO with grpcio-tools' protoc into ``out``; return the bytes written."""
    from grpc_tools import protoc

    code = protoc.main(["protoc", f"-I{HERE}", f"--descriptor_set_out={out}", PROTO.name])
    if code != 0:
        raise RuntimeError(f"protoc failed (exit {code}) on {PROTO}")
    return out.read_bytes()


def _main(argv: list[str]) -> None:
    if argv != ["--regenerate"]:
        raise SystemExit("usage: python -m mldeploy.api.grpc.messages --regenerate")
    with tempfile.TemporaryDirectory() as folder:  # write whole or not at all
        data = regenerate(Path(folder) / DESCRIPTOR_SET.name)
    DESCRIPTOR_SET.write_bytes(data)
    print(f"wrote {DESCRIPTOR_SET} ({len(data)} bytes)")


if __name__ == "__main__":
    _main(sys.argv[1:])
