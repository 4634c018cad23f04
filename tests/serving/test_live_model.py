"""LiveModel: verified swaps under load, refusals with their reasons, pins, rollbacks and the restart cache."""

from __future__ import annotations

import gc
import json
import queue
import threading
import time
import weakref

import numpy as np
import pytest

import _bundles
import _models
from mldeploy.errors import ConfigError, NotReadyError
from mldeploy.serving.live_model import LiveModel

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return _bundles.salary_bundle(tmp_path_factory.mktemp("live"))


def _events(live: LiveModel) -> queue.Queue:
    events = queue.Queue()
    live.on_swap(events.put)
    return events


@pytest.mark.slow  # swaps versions under load for seconds
def test_swaps_under_load_fail_no_prediction_and_refuse_every_broken_version(base, tmp_path):
    source = _bundles.QueueSource()
    live = LiveModel(source, poll_timeout_s=0.05)
    events = _events(live)
    _, features = _models.salary_pipeline()
    rows = features.head(32).to_dict(orient="records")
    failures, results, stop = [], [], threading.Event()

    def predict_loop():
        while not stop.is_set():
            before = live.version
            try:
                result = live.infer(rows)
            except NotReadyError:
                continue
            except Exception as exc:  # any failure is what this test exists to catch
                failures.append(repr(exc))
                continue
            results.append((before, result.version, live.version))

    plan = _swap_plan(base, tmp_path, swaps=24)
    source.offer(plan[0][1])
    assert live.wait_ready(60)
    threads = [threading.Thread(target=predict_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        outcomes = {}
        for version, candidate, broken in plan[1:]:
            source.offer(candidate)
            event = events.get(timeout=60)
            while event.ref.version != version:
                event = events.get(timeout=60)
            outcomes[version] = (broken, event)
            time.sleep(0.01)  # let the loop predict on each version before the next swap
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        live.close()

    assert failures == []
    assert len(results) > 100
    refused = {v: (b, e.check) for v, (b, e) in outcomes.items() if not e.accepted}
    assert refused == {v: (b, {"tampered": "fetch", "incompatible": "compatibility", "raising": "smoke"}[b])
                       for v, (b, _) in outcomes.items() if b}
    accepted = {v for v, (b, e) in outcomes.items() if e.accepted} | {1}
    for before, served, after in results:
        assert served in accepted and before <= served <= after  # live when the call started, or swapped in during it
    reasons = [e.reason for _, e in outcomes.values() if not e.accepted]
    assert all(reasons) and any("certifications" in r and "removed" in r for r in reasons) and any("digest" in r for r in reasons)


def _swap_plan(base, folder, swaps: int):
    """Versions 1..swaps+1; every fourth broken (tampered, incompatible, raising in turn)."""
    kinds = ["tampered", "incompatible", "raising"]
    plan = []
    for version in range(1, swaps + 2):
        broken = kinds[(version // 4 - 1) % 3] if version % 4 == 0 else None
        if broken == "tampered":
            path = _bundles.tampered(base, folder, version)
        elif broken == "incompatible":
            path = _bundles.incompatible(folder, version).path
        elif broken == "raising":
            path = _bundles.raising(base, folder, version).path
        else:
            path = _bundles.numbered(base, folder, version).path
        plan.append((version, _bundles.candidate_of(path, version), broken))
    return plan


def test_a_refused_first_version_leaves_the_model_not_ready(base, tmp_path):
    source = _bundles.QueueSource()
    with LiveModel(source, start=False) as live:
        event = live.consider(_bundles.candidate_of(_bundles.tampered(base, tmp_path, 1), 1))
        assert not event.accepted and event.check == "fetch"
        with pytest.raises(NotReadyError, match="no version that passed its checks"):
            live.predict({})


@pytest.mark.parametrize("broken", [_bundles.raising, _bundles.not_finite], ids=["raises", "not-finite"])
def test_a_version_whose_smoke_prediction_fails_is_refused_and_the_old_one_keeps_serving(base, tmp_path, broken):
    row = base.sample().head(1)
    with LiveModel(_bundles.QueueSource(), start=False) as live:
        assert live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).path, 1)).accepted
        before = live.predict(row)
        event = live.consider(_bundles.candidate_of(broken(base, tmp_path, 2).path, 2))
        assert not event.accepted and event.check == "smoke", event
        assert live.version == 1 and np.array_equal(live.predict(row), before)


def test_pin_holds_a_version_and_an_older_version_offered_again_is_a_rollback(base, tmp_path):
    source = _bundles.QueueSource()
    with LiveModel(source, start=False) as live:
        one, two = (_bundles.numbered(base, tmp_path, v) for v in (1, 2))
        assert live.consider(_bundles.candidate_of(two.path, 2)).accepted
        assert live.consider(_bundles.candidate_of(one.path, 1)).accepted and live.version == 1
    with LiveModel(source, start=False, pin=2) as pinned:
        assert pinned.consider(_bundles.candidate_of(one.path, 1)) is None
        assert pinned.consider(_bundles.candidate_of(two.path, 2)).accepted and pinned.version == 2


def test_an_incompatible_version_passes_when_allowed(base, tmp_path):
    with LiveModel(_bundles.QueueSource(), start=False, allow_incompatible=True) as live:
        live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).path, 1))
        assert live.consider(_bundles.candidate_of(_bundles.incompatible(tmp_path, 2).path, 2)).accepted


def test_unsigned_versions_are_refused_when_a_key_is_set(base, tmp_path):
    from mldeploy.bundle import signing

    _, public = signing.generate_keypair()
    with LiveModel(_bundles.QueueSource(), start=False, public_key=public, require_signed=True) as live:
        event = live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).path, 1))
    assert not event.accepted and event.check == "signature" and "not signed" in event.reason
    with pytest.raises(ConfigError, match="needs public_key"):
        LiveModel(_bundles.QueueSource(), require_signed=True, start=False)


def test_a_version_signed_by_the_key_serves_and_one_signed_by_another_key_is_refused(base, tmp_path):
    from mldeploy.bundle import signing

    private, public = signing.generate_keypair()
    other, _ = signing.generate_keypair()
    with LiveModel(_bundles.QueueSource(), start=False, public_key=public, require_signed=True) as live:
        assert live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).sign(private).path, 1)).accepted
        event = live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 2).sign(other).path, 2))
        assert not event.accepted and event.check == "signature" and "another key" in event.reason
        assert live.version == 1


def test_a_cache_written_in_the_gzip_layout_still_serves_after_an_upgrade(base, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    bundle = _bundles.numbered(base, tmp_path, 5)
    (cache / "salary.bundle.tar.gz").write_bytes(bundle.to_archive())
    (cache / "salary.bundle.json").write_text(json.dumps({"ref": "salary@5", "digest": bundle.digest}))
    with LiveModel(_bundles.QueueSource(), start=False, cache_dir=cache) as restarted:
        assert restarted.version == 5


def test_a_restart_serves_the_cached_version_before_the_source_answers(base, tmp_path):
    cache = tmp_path / "cache"
    with LiveModel(_bundles.QueueSource(), start=False, cache_dir=cache) as first:
        first.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 7).path, 7))
    with LiveModel(_bundles.QueueSource(), start=False, cache_dir=cache) as restarted:
        assert restarted.version == 7
        _, features = _models.salary_pipeline()
        np.testing.assert_array_equal(restarted.predict(features.head(5)), first.predict(features.head(5)))



@pytest.fixture
def unfrozen_afterwards():
    yield
    gc.unfreeze()  # give the rest of the test session its collector back as it was


def _is_frozen(obj) -> bool:
    # gc.get_objects() lists the three generations; the permanent (frozen) one is not among them.
    return gc.is_tracked(obj) and not any(other is obj for other in gc.get_objects())


def test_with_freeze_heap_each_swap_freezes_the_new_version_and_frees_the_one_it_replaced(base, tmp_path, unfrozen_afterwards):
    gc.unfreeze()
    with LiveModel(_bundles.QueueSource(), start=False, freeze_heap=True) as live:
        assert live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).path, 1)).accepted
        first = weakref.ref(live.model)
        assert gc.get_freeze_count() > 0 and _is_frozen(live.model) and _is_frozen(live.model.compiled)
        assert live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 2).path, 2)).accepted
        assert _is_frozen(live.model) and live.version == 2
        assert first() is None  # frozen, yet freed by reference counting once swapped out: nothing leaks


def test_without_freeze_heap_a_swap_leaves_the_collector_alone(base, tmp_path, unfrozen_afterwards):
    gc.unfreeze()
    with LiveModel(_bundles.QueueSource(), start=False) as live:
        assert live.consider(_bundles.candidate_of(_bundles.numbered(base, tmp_path, 1).path, 1)).accepted
        assert gc.get_freeze_count() == 0


def test_a_loaded_model_holds_no_reference_cycle(base):
    """What freeze_heap relies on: a dropped version is freed by reference counting alone, never by the collector."""
    from mldeploy.serving import Model

    _, features = _models.salary_pipeline()
    model = Model(base)
    model.infer(features.head(3))
    dropped = [weakref.ref(part) for part in (model, model.pipeline, model.compiled)]  # the bundle is the fixture's
    gc.disable()
    try:
        del model
        assert [ref() for ref in dropped] == [None] * 3
    finally:
        gc.enable()


def test_a_source_with_nothing_to_offer_yet_settles_the_model_without_making_it_ready(base, tmp_path):
    from mldeploy.registry import Registry
    from mldeploy.serving import RegistrySource

    with Registry(root=tmp_path / "registry") as registry:
        registry.register(_bundles.numbered(base, tmp_path, 1))
        with LiveModel(RegistrySource(registry, "salary:staging", poll_interval_s=0.05)) as live:
            deadline = time.monotonic() + 30
            while not live.has_settled and time.monotonic() < deadline:  # the alias is not set: nothing to offer
                time.sleep(0.01)
            assert live.has_settled and not live.is_ready and live.last_event is None
            registry.set_alias("salary@1", "staging")
            assert live.wait_ready(30) and live.version == 1
