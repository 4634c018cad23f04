"""The whole freshness loop on real services: a server, a Kafka relay, a subscribing app and a batch job.

salary@1 is trained on salary.generate(seed=1), served by `mldeploy serve salary:production` under
steady load and published by `mldeploy publish salary:production --follow` to a topic an app
subscribes to. Drifted data (drift=0.3) arrives: the loop finds drift, trains, gates and promotes
salary@2; the server, the app and the batch job all move to it with no failed request. A broken
challenger is refused with its reason, and a rollback brings every architecture back to salary@1.
"""

import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

import _services
from _freshness import ROWS, shuffled, small_recipe, write_config
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.errors import ConfigError
from mldeploy.examples import salary
from mldeploy.ops import Loop, gate, load_config, promote, retrain, rollback
from mldeploy.ops.registering import train_and_register
from mldeploy.registry import Registry
from mldeploy.stream import subscribe

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]


class Load:
    """Steady requests from two threads; every answer is kept, every failure counted."""

    def __init__(self, url: str, row: dict):
        self.url, self.row = url, row
        self.versions: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(2)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait_for(self, version: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.versions and self.versions[-1] == version:
                return
            time.sleep(0.05)
        raise AssertionError(f"the server did not swap to version {version}: last {self.versions[-5:]}")

    def _send(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(f"{self.url}/predict/salary", json=self.row)
                    if answer.status_code != 200:
                        self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
                    else:
                        self.versions.append(answer.json()["model_version"])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                time.sleep(0.01)  # bounded load: about 100 requests a second per thread at most


def start_relay(registry_root, url: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", str(registry_root), "publish",
               "salary:production", "--to", url, "--follow"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"})


def test_drift_retrain_gate_promote_reach_every_architecture_and_rollback_restores_them(kafka_broker, tmp_path):
    root = tmp_path / "registry"
    with Registry(root=root) as registry:
        train_and_register(salary.generate(ROWS, seed=1), "salary", registry=registry, alias="production",
                           factory=small_recipe)
        drifted, holdout = salary.generate(ROWS, seed=2, drift=0.3), salary.generate(600, seed=3, drift=0.3)
        config = write_config(tmp_path, drifted, holdout)
        topic = kafka_broker.url(f"models-{uuid.uuid4().hex[:8]}")
        row = holdout.drop(columns="salary").iloc[0].to_dict()
        relay = start_relay(root, topic)
        try:
            with _services.api_server("--registry", str(root), "serve", "salary:production", "--poll-interval", "0.2") as server, \
                    subscribe(topic, "salary") as app, Load(server.url, row) as load:
                assert app.wait_for_version(1, 120)
                load.wait_for(1)

                done = Loop(registry, load_config(config), actor="test (loop)").run_once()
                assert done.outcome == "promoted", done.detail
                assert done.drift["drifted"] and str(done.challenger) == "salary@2"
                load.wait_for(2)
                assert app.wait_for_version(2, 120)
                with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
                    assert store.count("salary", version=2) == 30

                broken = retrain(registry, "salary:production", shuffled(drifted), "salary").challenger
                refused = gate(registry, broken, "salary:production", holdout, "salary")
                assert not refused.passed and "r2: " in refused.reason
                with pytest.raises(ConfigError, match="failed its last gate"):
                    promote(registry, broken, "production", reason="should not happen")

                back = rollback(registry, "salary", "production", reason="complaints", actor="test",
                                targets=load_config(config).targets.all)
                assert (back.previous_version, back.version) == (2, 1)
                load.wait_for(1)
                assert app.wait_for_version(1, 120)
                with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as store:
                    assert store.count("salary", version=1) == 30
            assert load.failures == [] and {1, 2} <= set(load.versions)
        finally:
            relay.terminate()
            out, err = relay.communicate(timeout=60)
        assert relay.returncode == 0, err
        published = [line.strip() for line in out.splitlines() if "salary@" in line]
        kinds = [event.kind for event in registry.journal.history("salary")]
        assert kinds[1:] == ["drift", "retrain", "gate-passed", "promote", "retrain", "gate-failed", "rollback"]
    assert published == ["published salary@1", "published salary@2", "published salary@1"]
