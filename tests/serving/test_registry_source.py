"""RegistrySource: a LiveModel in another process follows alias moves in a shared registry."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading

import pytest

import _bundles
from mldeploy.bundle import BundleRef
from mldeploy.errors import NotFoundError
from mldeploy.registry import Registry
from mldeploy.serving.model_source import RegistrySource

pytestmark = pytest.mark.timeout(240)

FOLLOWER = textwrap.dedent('''
    import json, sys, threading
    import pandas as pd
    from mldeploy.serving import LiveModel, RegistrySource

    url, rows_file = sys.argv[1], sys.argv[2]
    rows = pd.read_json(rows_file, orient="records")
    live = LiveModel(RegistrySource(url, "salary:production", poll_interval_s=0.05), poll_timeout_s=0.1)
    live.on_swap(lambda e: print(json.dumps({"swap": e.ref.version, "accepted": e.accepted}), flush=True))
    done, failures, served = threading.Event(), [], []
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    live.wait_ready(60)
    while not done.is_set():
        try:
            served.append(live.infer(rows).version)
        except Exception as exc:
            failures.append(repr(exc))
    print(json.dumps({"failures": failures, "predictions": len(served), "versions": sorted(set(served))}), flush=True)
    live.close()
''')


@pytest.fixture(params=["sqlite", "postgres"])
def registry_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        yield request.getfixturevalue("postgres_database")


@pytest.mark.slow  # starts a follower process
def test_a_follower_process_swaps_as_another_process_moves_the_alias(registry_url, tmp_path):
    base = _bundles.salary_bundle(tmp_path)
    with Registry(registry_url, root=tmp_path / "root") as registry:
        for _ in range(3):
            registry.register(base)
        registry.set_alias("salary@1", "production")
        rows_file = tmp_path / "rows.json"
        base.sample().head(20).to_json(rows_file, orient="records")
        follower = subprocess.Popen([sys.executable, "-c", FOLLOWER, registry_url, str(rows_file)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        lines = _lines(follower)
        try:
            assert _next_swap(lines) == 1
            for version in (2, 3, 1, 3):
                registry.set_alias(f"salary@{version}", "production")
                assert _next_swap(lines) == version
        finally:
            follower.stdin.close()
            summary = json.loads(lines.get(timeout=60))
            follower.wait(30)
    assert summary["failures"] == [] and summary["predictions"] > 0
    assert set(summary["versions"]) <= {1, 2, 3}


def _lines(process) -> queue.Queue:
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return lines


def _next_swap(lines: queue.Queue) -> int:
    event = json.loads(lines.get(timeout=90))
    assert event["accepted"], event
    return event["swap"]


def test_the_first_offer_is_the_current_version_and_later_ones_only_changes(tmp_path):
    base = _bundles.salary_bundle(tmp_path)
    with Registry(root=tmp_path / "reg") as registry:
        registry.register(base)
        registry.set_alias("salary@1", "production")
        source = RegistrySource(registry, "salary:production", poll_interval_s=0.01)
        first = source.next_candidate(1)
        assert first.ref == BundleRef("salary", 1) and first.digest == registry.record("salary@1").digest
        assert source.next_candidate(0.05) is None
        registry.register(base)  # a new version does not move the alias
        assert source.next_candidate(0.05) is None
        registry.set_alias("salary@2", "production")
        moved = source.next_candidate(1)
        assert moved.ref == BundleRef("salary", 2) and moved.fetch().ref == BundleRef("salary", 2)


def test_an_unknown_alias_is_waited_for_and_an_unknown_model_is_not_found(tmp_path):
    base = _bundles.salary_bundle(tmp_path)
    with Registry(root=tmp_path / "reg") as registry:
        registry.register(base)
        assert RegistrySource(registry, "salary:staging").next_candidate(0.05) is None
        with pytest.raises(NotFoundError):
            RegistrySource(registry, "nosuch@1").next_candidate(0.05)
