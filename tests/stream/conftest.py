"""Fixtures of the stream adapter's tests: registered versions and topics on both transports."""

from __future__ import annotations

import uuid

import pytest

from mldeploy.bundle import Bundle
from mldeploy.registry import Registry

import _models


@pytest.fixture(scope="session")
def salary_registry(tmp_path_factory) -> Registry:
    """A registry holding salary@1 and salary@2 (the same pipeline, so always compatible)."""
    root = tmp_path_factory.mktemp("stream-registry")
    pipeline, features = _models.salary_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="salary", directory=root / "bundle")
    registry = Registry(root=root / "registry")
    registry.register(bundle)
    registry.register(bundle)
    return registry


@pytest.fixture
def topic_name() -> str:
    """A topic no other test uses."""
    return f"models-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def stream_url(request, tmp_path, topic_name) -> str:
    """A model topic URL on the local log and on the session's Kafka broker."""
    if request.param == "local":
        return f"local://{tmp_path}/log/{topic_name}"
    return request.getfixturevalue("kafka_broker").url(topic_name)
