"""The relay publishes each version an alias moves to, once each, across restarts."""

import threading

import pytest

from mldeploy.errors import MldeployError
from mldeploy.ops.relay import Relay
from mldeploy.stream import publish, subscribe
from mldeploy.stream.schemes import open_transport
from mldeploy.stream.transport import parse_url

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def two_versions(registry):
    registry.register(registry.get("salary@1"))
    return registry


def records_on(url: str) -> int:
    location = parse_url(url)
    transport = open_transport(location)
    try:
        return transport.end(location.topic, 5.0)
    finally:
        transport.close()


def relayed(relay) -> list[tuple[int, bool]]:
    return [(done.version, done.published) for done in relay.catch_up()]


def test_each_move_is_published_and_a_subscriber_follows_it_rollbacks_included(two_versions, tmp_path):
    registry, url = two_versions, f"local://{tmp_path}/log/models"
    relay = Relay(registry, "salary", "production", url)
    assert relayed(relay) == [(1, True)]
    with subscribe(url, "salary") as live:
        assert live.wait_for_version(1, 30)
        registry.set_alias("salary@2", "production")
        assert relayed(relay) == [(2, True)]
        assert live.wait_for_version(2, 30)
        registry.set_alias("salary@1", "production")  # a rollback is a move like any other
        assert relayed(relay) == [(1, True)]
        assert live.wait_for_version(1, 30)
    assert relayed(relay) == []


def test_a_restarted_relay_misses_nothing_and_publishes_nothing_twice(two_versions, tmp_path):
    registry, url = two_versions, f"local://{tmp_path}/log/models"
    assert relayed(Relay(registry, "salary", "production", url)) == [(1, True)]
    registry.set_alias("salary@2", "production")  # moves while no relay runs
    registry.set_alias("salary@1", "production")
    registry.set_alias("salary@2", "production")
    restarted = Relay(registry, "salary", "production", url)
    assert relayed(restarted) == [(2, True), (1, True), (2, True)]
    before = records_on(url)
    assert relayed(Relay(registry, "salary", "production", url)) == []
    assert records_on(url) == before


def test_a_relay_killed_between_publishing_and_recording_does_not_publish_again(two_versions, tmp_path):
    registry, url = two_versions, f"local://{tmp_path}/log/models"
    assert relayed(Relay(registry, "salary", "production", url)) == [(1, True)]
    registry.set_alias("salary@2", "production")
    publish(registry.get("salary@2"), url)  # what the killed relay did before it could record it
    before = records_on(url)
    assert relayed(Relay(registry, "salary", "production", url)) == [(2, False)]
    assert records_on(url) == before


def test_a_failed_publication_is_recorded_and_retried(two_versions, tmp_path):
    registry = two_versions
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the log's folder must go")
    relay = Relay(registry, "salary", "production", f"local://{blocked}/models")
    with pytest.raises(MldeployError) as caught:
        relay.catch_up()
    assert "blocked" in str(caught.value)
    held = registry.journal.delivery("salary", "production", relay.label)
    assert not held.ok and held.reason
    blocked.unlink()
    assert relayed(Relay(registry, "salary", "production", f"local://{blocked}/models")) == [(1, True)]


def test_a_running_relay_publishes_a_move_as_it_happens(two_versions, tmp_path):
    registry, url = two_versions, f"local://{tmp_path}/log/models"
    stop = threading.Event()
    relay = Relay(registry, "salary", "production", url)
    thread = threading.Thread(target=relay.run, args=(stop, 0.5), daemon=True)
    thread.start()
    try:
        with subscribe(url, "salary") as live:
            assert live.wait_for_version(1, 30)
            registry.set_alias("salary@2", "production")
            assert live.wait_for_version(2, 30)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
