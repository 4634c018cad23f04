"""Fixtures of the stream adapter's tests: topics on both transports."""

from __future__ import annotations

import uuid

import pytest


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
