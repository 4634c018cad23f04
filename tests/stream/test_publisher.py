import pytest

from mldeploy.bundle import Bundle
from mldeploy.errors import ConfigError
from mldeploy.stream import publish
from mldeploy.stream.index import read_index
from mldeploy.stream.transport import parse_url
from mldeploy.stream.schemes import open_transport

import _models

pytestmark = pytest.mark.timeout(120)


def _index(url: str):
    location = parse_url(url)
    transport = open_transport(location)
    try:
        return read_index(transport, location.topic, timeout_s=10)
    finally:
        transport.close()


def test_every_version_is_listed_and_the_last_published_is_latest(stream_url, salary_registry):
    first = publish(salary_registry.get("salary@1"), stream_url, chunk_bytes=16_384).version
    publish(salary_registry.get("salary@2"), stream_url)
    index = _index(stream_url)
    assert sorted(index.versions["salary"]) == [1, 2] and index.latest["salary"].version == 2
    assert first.chunk_count > 1 and first.chunk_topic.endswith(".chunks") and not first.signed
    assert index.problems == []


def test_publishing_an_older_version_again_makes_it_latest(stream_url, salary_registry):
    for ref in ("salary@1", "salary@2", "salary@1"):
        publish(salary_registry.get(ref), stream_url)
    assert _index(stream_url).latest["salary"].version == 1


def test_a_topic_argument_overrides_the_url_topic(stream_url, salary_registry, topic_name):
    published = publish(salary_registry.get("salary@1"), stream_url, topic=f"{topic_name}-canary")
    assert published.location.topic == f"{topic_name}-canary"
    assert _index(published.location.url()).latest["salary"].version == 1
    assert _index(stream_url).latest == {}


def test_an_unregistered_bundle_cannot_be_published(tmp_path):
    pipeline, features = _models.strict_pipeline()
    bundle = Bundle.from_pipeline(pipeline, features, name="strict", directory=tmp_path / "b")
    with pytest.raises(ConfigError, match="strict has no version: register it first"):
        publish(bundle, f"local://{tmp_path}/log/models")
