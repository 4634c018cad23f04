"""The deployment adapters the conformance kit holds to one contract.

An adapter deploys a registry reference and answers rows with predictions, the
version that made them, and SchemaError for bad rows. Each architecture joins
by adding one entry to ``ADAPTERS``: a factory that receives the test session's
``request`` (so it can ask for the fixtures that own its server, broker or
database) and returns an :class:`Adapter`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import confluent_kafka as ck
import numpy as np
import pandas as pd

from mldeploy.batch.job import run_batch
from mldeploy.batch.prediction_store import PredictionStore
from mldeploy.bundle import BundleRef
from mldeploy.errors import Issue, SchemaError
from mldeploy.registry import Registry
from mldeploy.serving import codecs
from mldeploy.serving.live_model import LiveModel
from mldeploy.serving.model import Model
from mldeploy.serving.model_source import RegistrySource
from mldeploy.stream import publish, subscribe
from mldeploy.stream.scorer import ScorerConfig, StreamScorer
from mldeploy.stream.transport import parse_url

from _events import create_topics, produce


@dataclass(frozen=True)
class Answer:
    """What a deployment answered for a list of rows."""

    values: np.ndarray
    probabilities: np.ndarray | None
    versions: list[int]
    """The version that produced each row's answer."""
    classes: tuple[str, ...] | None = None
    """A classifier's class names, in the order of the probabilities' columns, as the adapter's wire names them."""


class Deployment(Protocol):
    """A reference deployed by one adapter."""

    def predict(self, rows: list[dict], extra: str = "reject") -> Answer:
        """Answer rows; raise SchemaError for bad rows, as the core does."""

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        """Wait until the deployment serves ``version`` (after an alias move)."""


class Adapter(Protocol):
    """Deploys a reference from a registry, in one architecture."""

    def deploy(self, registry: Registry, ref: str):
        """Return a context manager giving a Deployment of ``ref`` (follows it if it is an alias)."""


class EmbeddedDeployment:
    """The embedded architecture: a live model in this process, called with one input form."""

    def __init__(self, live: LiveModel, call: str):
        self._live = live
        self._call = call

    def predict(self, rows: list[dict], extra: str = "reject") -> Answer:
        if self._call == "one-by-one":
            results = self._one_by_one(rows, extra)
            values = np.array([r.values[0] for r in results]) if results else np.empty(0)
            proba = [r.probabilities[0] for r in results if r.probabilities is not None]
            classes = _names(results[0].classes) if results else None
            return Answer(values, np.array(proba) if proba else None, [r.version for r in results], classes)
        data = pd.DataFrame.from_records(rows) if self._call == "frame" else rows
        if self._call == "frame" and not rows:
            data = pd.DataFrame(columns=self._live.model.schema.names)
        result = self._live.infer(data, extra)
        return Answer(result.values, result.probabilities, [result.version] * len(result), _names(result.classes))

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        return self._live.wait_for_version(version, timeout_s)

    def _one_by_one(self, rows: list[dict], extra: str) -> list:
        """Predict each row alone, as an app answering one request at a time; bad rows keep their position."""
        results, issues = [], []
        for index, row in enumerate(rows):
            try:
                results.append(self._live.infer(row, extra))
            except SchemaError as error:
                issues += [replace(issue, row=index) for issue in error.issues]
        if issues:
            raise SchemaError(issues)
        return results


def _names(classes) -> tuple[str, ...] | None:
    return tuple(codecs.class_names(classes)) if classes is not None else None


@dataclass(frozen=True)
class EmbeddedAdapter:
    """``mldeploy.load`` inside the app, on one prediction path, following the registry like every adapter."""

    call: str
    use_compiled: bool

    @contextmanager
    def deploy(self, registry: Registry, ref: str) -> Iterator[EmbeddedDeployment]:
        registry.record(ref)  # an unknown model or version is NotFoundError now, not a model that never gets ready
        live = LiveModel(RegistrySource(registry, ref, poll_interval_s=0.05), use_compiled=self.use_compiled, poll_timeout_s=0.1)
        try:
            if not live.wait_ready(60):
                raise AssertionError(f"{ref} never became ready")
            served: Model = live.model
            assert (served.compiled is not None) == self.use_compiled, served.explain_plan()
            yield EmbeddedDeployment(live, self.call)
        finally:
            live.close()


class _Relay:
    """Continuous deployment to a topic: publish every version a registry reference names, as it moves."""

    def __init__(self, registry: Registry, ref: str, url: str):
        self._source = RegistrySource(registry, ref, poll_interval_s=0.05)
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            candidate = self._source.next_candidate(0.1)
            if candidate is not None:
                publish(candidate.fetch(), self._url)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self._source.close()


@dataclass(frozen=True)
class StreamAdapter:
    """Model as data: a relay publishes what the reference names to a topic; the app holds a subscribed live model."""

    request: object
    transport: str

    @contextmanager
    def deploy(self, registry: Registry, ref: str) -> Iterator[EmbeddedDeployment]:
        registry.record(ref)  # an unknown model or version is NotFoundError now
        url = self._url()
        relay = _Relay(registry, ref, url)
        live = subscribe(url, BundleRef.parse(ref).name)
        try:
            if not live.wait_ready(60):
                raise AssertionError(f"{ref} never became ready on {url}")
            yield EmbeddedDeployment(live, "records")
        finally:
            live.close()
            relay.stop()

    def _url(self) -> str:
        topic = f"contract-{uuid.uuid4().hex[:10]}"
        if self.transport == "local":
            return f"local://{self.request.getfixturevalue('tmp_path')}/log/{topic}"
        return self.request.getfixturevalue("kafka_broker").url(topic)


class ScorerDeployment:
    """The streaming scorer: each call's rows go in as keyed JSON events; predictions and dead letters come out.

    The scorer runs on a thread of this process with a live model subscribed to the relay's topic;
    a dead letter's reasons become the call's SchemaError issues, numbered by the event's row.
    One scorer per ``extra`` setting, each on topics of its own, started on first use.
    """

    _ISSUE = re.compile(r'^field "(?P<field>.*)": expected (?P<expected>.*), got (?P<got>.*)$')

    def __init__(self, broker, live: LiveModel):
        self._broker, self._live = broker, live
        self._scorers: dict[str, tuple[str, StreamScorer, threading.Thread]] = {}
        self._calls = 0

    def predict(self, rows: list[dict], extra: str = "reject") -> Answer:
        topic = self._topic_for(extra)
        self._calls += 1
        keys = [f"{self._calls}-{index}".encode() for index in range(len(rows))]
        produce(self._broker.bootstrap, topic, {k: json.dumps(row).encode() for k, row in zip(keys, rows)})
        answers = self._read({f"{topic}-out": "prediction", f"{topic}.dead-letter": "dead"}, set(keys))
        issues = [issue for index, key in enumerate(keys) if answers[key][0] == "dead"
                  for issue in self._issues(index, answers[key][1])]
        if issues:
            raise SchemaError(issues)
        messages = [answers[key][1] for key in keys]
        values = [json.loads(m.value()) for m in messages]
        versions = [BundleRef.parse(dict(m.headers())["mldeploy-model"].decode()).version for m in messages]
        if values and "probabilities" in values[0]:
            classes = tuple(values[0]["probabilities"])
            proba = np.array([[v["probabilities"][c] for c in classes] for v in values])
            return Answer(np.array([v["label"] for v in values]), proba, versions, classes)
        return Answer(np.array([v["prediction"] for v in values], dtype="float64"), None, versions)

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        return self._live.wait_for_version(version, timeout_s)

    def close(self) -> None:
        for _, scorer, thread in self._scorers.values():
            scorer.stop()
            thread.join(60)

    def _topic_for(self, extra: str) -> str:
        if extra not in self._scorers:
            topic = f"contract-events-{uuid.uuid4().hex[:10]}"
            create_topics(self._broker.bootstrap, 1, topic, f"{topic}-out")
            assigned = threading.Event()
            config = ScorerConfig(parse_url(self._broker.url(topic)), parse_url(self._broker.url(f"{topic}-out")),
                                  group=f"contract-{topic}", max_batch=64, extra=extra, caught_up_commit_s=0.0)
            scorer = StreamScorer(self._live, config, on_assign=lambda partitions: assigned.set())
            thread = threading.Thread(target=scorer.run, daemon=True)
            thread.start()
            if not assigned.wait(120):
                raise AssertionError(f"the scorer of {topic} was never assigned its partition")
            self._scorers[extra] = (topic, scorer, thread)
        return self._scorers[extra][0]

    def _read(self, kinds: dict[str, str], keys: set[bytes], timeout_s: float = 120) -> dict[bytes, tuple]:
        """Read the output topics from their start until every key has a prediction or a dead letter."""
        consumer = ck.Consumer({"bootstrap.servers": self._broker.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                                "isolation.level": "read_committed", "enable.auto.commit": False})
        consumer.assign([ck.TopicPartition(topic, 0, 0) for topic in kinds])
        found: dict[bytes, tuple] = {}
        deadline = time.monotonic() + timeout_s
        try:
            while not keys <= found.keys():
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(keys - found.keys())} of {len(keys)} events got no answer in {timeout_s:.0f} s")
                for message in consumer.consume(500, 0.2):
                    if message.error() is None and message.key() in keys:
                        found[message.key()] = (kinds[message.topic()], message)
        finally:
            consumer.close()
        return found

    def _issues(self, row: int, dead_letter) -> list[Issue]:
        reasons = json.loads(dead_letter.value())["reasons"]
        return [Issue(row, **self._ISSUE.match(reason).groupdict()) for reason in reasons]


@dataclass(frozen=True)
class ScorerAdapter:
    """The streaming scorer (``stream-score``) on the kit's Kafka broker, following a relay's model topic."""

    request: object

    @contextmanager
    def deploy(self, registry: Registry, ref: str) -> Iterator[ScorerDeployment]:
        registry.record(ref)  # an unknown model or version is NotFoundError at deploy time, as for every adapter
        url = f"local://{self.request.getfixturevalue('tmp_path')}/log/contract-{uuid.uuid4().hex[:10]}"
        relay = _Relay(registry, ref, url)
        live = subscribe(url, BundleRef.parse(ref).name)
        deployed = ScorerDeployment(self.request.getfixturevalue("kafka_broker"), live)
        try:
            if not live.wait_ready(60):
                raise AssertionError(f"{ref} never became ready on {url}")
            yield deployed
        finally:
            deployed.close()
            live.close()
            relay.stop()


class BatchDeployment:
    """The batch architecture: each call is a batch run (CSV in, its own database out) answered by key lookups.

    The reference is resolved when each run starts, so an alias moved between
    runs reaches the next run; a rejected row comes back as the SchemaError
    issues the run stored for it.
    """

    KEY = "_contract_row"

    def __init__(self, registry: Registry, ref: str, folder: Path, store_url: str):
        self._registry, self._ref, self._folder, self._url = registry, ref, folder, store_url
        self._runs = 0

    def predict(self, rows: list[dict], extra: str = "reject") -> Answer:
        names = self._registry.get(self._ref).schema.names
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=names)
        frame.insert(0, self.KEY, range(len(frame)))
        self._runs += 1
        path = self._folder / f"rows-{self._runs}.csv"
        frame.to_csv(path, index=False)
        run = run_batch(self._ref, path, self.KEY, self._url, registry=self._registry, extra=extra)
        with PredictionStore(self._url) as store:
            rejects = store.rejects(run.run_id)
            if rejects:
                raise SchemaError([issue for reject in rejects for issue in reject.issues])
            found = [store.get(run.model_name, str(row), version=run.model_version) for row in range(len(frame))]
        values = np.array([f.value if f.label is None else f.label for f in found])
        proba = [list(f.probabilities.values()) for f in found if f.probabilities is not None]
        classes = tuple(found[0].probabilities) if found and found[0].probabilities is not None else None
        return Answer(values, np.array(proba) if proba else None, [f.model_version for f in found], classes)

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        """The next run resolves the reference afresh: ready once the registry names ``version``."""
        deadline = time.monotonic() + timeout_s
        while self._registry.resolve(self._ref).version != version:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


@dataclass(frozen=True)
class BatchAdapter:
    """Batch runs into a prediction database the adapter owns: a SQLite file, or a fresh PostgreSQL database."""

    request: object
    backend: str

    @contextmanager
    def deploy(self, registry: Registry, ref: str) -> Iterator[BatchDeployment]:
        registry.record(ref)  # an unknown model or version is NotFoundError at deploy time, as for every adapter
        folder = Path(tempfile.mkdtemp(prefix="mldeploy-contract-batch-"))
        try:
            if self.backend == "postgres":
                url = self.request.getfixturevalue("postgres_database")
            else:
                url = f"sqlite:///{folder / 'predictions.db'}"
            yield BatchDeployment(registry, ref, folder, url)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class ApiDeployment:
    """The dedicated model API: a real server on 127.0.0.1, called with :class:`mldeploy.api.Client` over HTTP or gRPC."""

    def __init__(self, server, name: str, protocol: str):
        from mldeploy.api import Client

        self._server, self._name = server, name
        self._client = Client(server.grpc if protocol == "grpc" else server.url, name, protocol=protocol)

    def predict(self, rows: list[dict], extra: str = "reject") -> Answer:
        result = self._client.infer(rows, extra)
        return Answer(result.values, result.probabilities, [result.version] * len(result), _names(result.classes))

    def wait_for_version(self, version: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._server.get(f"/v2/models/{self._name}/ready").json().get("version") != version:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class ApiAdapter:
    """``mldeploy serve --grpc-port`` following the reference; one server per registry serves every model the kit
    uses, over HTTP and over gRPC (``protocol``)."""

    request: object
    protocol: str = "http"
    SHARED = ("salary:production", "tiers:production")

    @contextmanager
    def deploy(self, registry: Registry, ref: str) -> Iterator[ApiDeployment]:
        registry.record(ref)  # an unknown model or version is NotFoundError at deploy time, as for every adapter
        refs = self.SHARED if ref in self.SHARED else (ref,)
        server = self.request.getfixturevalue("api_servers").get(registry.url, refs)
        deployed = ApiDeployment(server, BundleRef.parse(ref).name, self.protocol)
        try:
            if not deployed.wait_for_version(registry.resolve(ref).version, 60):
                raise AssertionError(f"the server never served {registry.resolve(ref)}")
            yield deployed
        finally:
            deployed.close()


PATHS = {"compiled": True, "sklearn": False}

ADAPTERS: dict[str, Callable] = {
    f"embedded-{call}-{path}": (lambda request, call=call, compiled=compiled: EmbeddedAdapter(call, compiled))
    for call in ("frame", "records", "one-by-one")
    for path, compiled in PATHS.items()
} | {
    f"stream-{transport}": (lambda request, transport=transport: StreamAdapter(request, transport))
    for transport in ("local", "kafka")
}
"""Adapter name -> factory(request) -> Adapter; the API, stream and batch adapters add theirs here."""
ADAPTERS.update({f"batch-{backend}": (lambda request, backend=backend: BatchAdapter(request, backend))
                 for backend in ("sqlite", "postgres")})
ADAPTERS["stream-scorer-kafka"] = ScorerAdapter
ADAPTERS["api"] = ApiAdapter
ADAPTERS["grpc"] = lambda request: ApiAdapter(request, "grpc")
