"""subscribe(): a LiveModel over a model topic, on the local log and on the real broker."""

import threading

import pytest

import mldeploy
from mldeploy.bundle import Bundle
from mldeploy.bundle.signing import generate_keypair
from mldeploy.stream import publish

import _models
from _damage import drop_the_last, flip_a_byte, publish_damaged

pytestmark = pytest.mark.timeout(180)

ROW = _models.salary_data().drop(columns="salary").iloc[0].to_dict()


class Swaps:
    """Collect on_swap events and wait for one that matches."""

    def __init__(self, live):
        self.events = []
        self._changed = threading.Condition()
        live.on_swap(self._add)

    def _add(self, event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_refused(self, version: int, timeout_s: float = 60):
        with self._changed:
            assert self._changed.wait_for(lambda: self._refused(version), timeout_s), self.events
            return self._refused(version)

    def _refused(self, version: int):
        return next((e for e in self.events if not e.accepted and e.ref.version == version), None)


def test_a_subscriber_serves_the_latest_and_swaps_in_each_new_version(stream_url, salary_registry):
    publish(salary_registry.get("salary@1"), stream_url)
    with mldeploy.subscribe(stream_url, "salary") as live:
        swaps = Swaps(live)
        assert live.wait_ready(60) and live.version == 1
        publish(salary_registry.get("salary@2"), stream_url)
        assert live.wait_for_version(2, 60)
        assert live.infer(ROW).ref.version == 2
        publish(salary_registry.get("salary@1"), stream_url)  # a rollback
        assert live.wait_for_version(1, 60)
    # The first version may be swapped in before or after on_swap is registered.
    assert [(e.ref.version, e.accepted) for e in swaps.events][-2:] == [(2, True), (1, True)]


def test_a_pinned_subscriber_holds_its_version(tmp_path, salary_registry):
    url = f"local://{tmp_path}/log/models"
    publish(salary_registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary", pin=1) as live:
        assert live.wait_ready(60) and live.version == 1
        publish(salary_registry.get("salary@2"), url)
        assert not live.wait_for_version(2, 1.5)


@pytest.mark.kafka
@pytest.mark.parametrize(("damage", "reason"), [(flip_a_byte, "is corrupt"), (drop_the_last, "is truncated")])
def test_a_damaged_version_is_refused_and_the_old_one_keeps_serving(kafka_broker, topic_name, salary_registry, damage, reason):
    url = kafka_broker.url(topic_name)
    publish(salary_registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary") as live:
        swaps = Swaps(live)
        assert live.wait_ready(60)
        publish_damaged(url, salary_registry.get("salary@2"), damage)
        refused = swaps.wait_refused(2)
        assert refused.check == "fetch" and reason in refused.reason
        assert live.version == 1 and live.infer(ROW).ref.version == 1


@pytest.mark.kafka
def test_an_unsigned_version_is_refused_when_signatures_are_required(kafka_broker, topic_name, tmp_path, salary_registry):
    private, public = generate_keypair()
    registry = mldeploy.Registry(root=tmp_path / "registry")
    registry.register(salary_registry.get("salary@1").copy_to(tmp_path / "signed").sign(private))
    registry.register(salary_registry.get("salary@2"))
    url = kafka_broker.url(topic_name)
    publish(registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary", public_key=public, require_signed=True) as live:
        swaps = Swaps(live)
        assert live.wait_ready(60) and live.version == 1
        publish(registry.get("salary@2"), url)
        refused = swaps.wait_refused(2)
        assert refused.check == "signature" and "not signed" in refused.reason
        assert live.version == 1


@pytest.mark.kafka
def test_an_incompatible_version_is_refused(kafka_broker, topic_name, tmp_path, salary_registry):
    pipeline, features = _models.strict_pipeline()
    registry = mldeploy.Registry(root=tmp_path / "registry")
    registry.register(salary_registry.get("salary@1"))
    registry.register(Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path / "other"))
    url = kafka_broker.url(topic_name)
    publish(registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary") as live:
        swaps = Swaps(live)
        assert live.wait_ready(60)
        publish(registry.get("salary@2"), url)
        refused = swaps.wait_refused(2)
        assert refused.check == "compatibility" and "years_experience" in refused.reason
        assert live.version == 1


@pytest.mark.kafka
def test_a_restart_with_the_broker_down_serves_the_cache_and_both_follow_when_it_returns(
        kafka_broker, topic_name, tmp_path, salary_registry):
    url, cache = kafka_broker.url(topic_name), tmp_path / "cache"
    publish(salary_registry.get("salary@1"), url)
    with mldeploy.subscribe(url, "salary", cache_dir=cache) as running:
        assert running.wait_ready(60) and running.version == 1
        kafka_broker.stop()
        restarted_broker = False
        try:
            with mldeploy.subscribe(url, "salary", cache_dir=cache) as restarted:
                assert restarted.is_ready and restarted.infer(ROW).ref.version == 1  # from the cache, no broker
                assert running.infer(ROW).ref.version == 1
                kafka_broker.start()
                restarted_broker = True
                publish(salary_registry.get("salary@2"), url)
                assert running.wait_for_version(2, 90), "the running subscriber did not reconnect"
                assert restarted.wait_for_version(2, 90), "the subscriber started without a broker did not connect"
        finally:
            if not restarted_broker:
                kafka_broker.start()
