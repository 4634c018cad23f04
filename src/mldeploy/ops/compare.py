"""Measure the four architectures on one model, on this machine: the comparison table, as figures.

The same rows go through each: embedded (the model in this process), the
model API over HTTP and over gRPC (`mldeploy serve` on loopback), a live
model subscribed to a local topic, and the batch path into sqlite. For each
it measures one-row latency (p50, p99), rows/s one row at a time and in
bulk, and how long a new version takes to reach serving (build the wheel;
move the alias until the server swaps; publish until the subscriber swaps;
rerun the batch). Every architecture must give the same predictions; the
report says whether they did.

The user's registry is only read: the version is copied twice into a scratch
registry (v1 serves, v2 is the "new version"), so aliases and topics the
measurement moves are its own.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mldeploy.errors import ConfigError

__all__ = ["ArchitectureFigures", "Comparison", "compare"]

_KEY = "row_id"
_ALIAS = "compare"
_MAX_ONE_ROW_CALLS = 200
_MAX_ROWS = 1_000_000
_SWAP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ArchitectureFigures:
    """One row of the table."""

    architecture: str
    one_row_p50_ms: float
    one_row_p99_ms: float
    rows_per_s_one_at_a_time: float | None
    """None where a row is never asked for alone (batch scores everything ahead)."""
    rows_per_s_bulk: float
    new_version_s: float
    new_version_how: str
    moving_parts: str
    real_time: bool
    max_difference: float
    """Largest absolute difference from the embedded predictions over every row (0.0: the same to the bit)."""


@dataclass(frozen=True)
class Comparison:
    """The measured table: which version, how many rows, one row of figures per architecture."""

    ref: str
    rows: int
    architectures: list[ArchitectureFigures] = field(default_factory=list)

    @property
    def same_predictions(self) -> bool:
        """Whether every architecture gave the embedded predictions, to the bit."""
        return all(a.max_difference == 0.0 for a in self.architectures)

    def to_dict(self) -> dict:
        return {"ref": self.ref, "rows": self.rows, "same_predictions": self.same_predictions,
                "architectures": [asdict(a) for a in self.architectures]}


def compare(ref: str, registry, rows: int = 10_000, progress: Callable[[str], None] | None = None) -> Comparison:
    """Run ``rows`` rows of ``ref`` through every architecture and return the measured table.

    The rows are the bundle's own training sample, repeated to ``rows``.
    """
    if not 1 <= rows <= _MAX_ROWS:
        raise ConfigError(f"rows: expected a count in [1, {_MAX_ROWS:,}], got {rows}")
    report = progress or (lambda _phrase: None)
    bundle = registry.get(ref)
    if bundle.manifest.task != "regression":
        raise ConfigError(f"{bundle.ref} is a {bundle.manifest.task} model; compare measures regression models")
    frame = _rows(bundle, rows)
    records = _records(frame)
    with tempfile.TemporaryDirectory(prefix="mldeploy-compare-") as scratch_dir:
        scratch = Path(scratch_dir)
        from mldeploy.registry import Registry

        with Registry(root=scratch / "registry") as scratch_registry:
            first = scratch_registry.register(bundle)
            second = scratch_registry.register(bundle, parent=first)
            scratch_registry.set_alias(first, _ALIAS)
            steps = [_embedded, _api, _stream, _batch]
            measured: list[ArchitectureFigures] = []
            reference = None
            for step in steps:
                for figures, values in step(scratch_registry, first, second, frame, records, scratch, report):
                    reference = values if reference is None else reference
                    measured.append(_with_difference(figures, values, reference))
    return Comparison(str(bundle.ref), rows, measured)


def _embedded(registry, first, second, frame, records, scratch, report):
    import mldeploy
    from mldeploy.embedded.wheel import build_wheel

    report("embedded: the model in this process")
    model = mldeploy.load(registry.get(first))
    one = _one_row_times(lambda row: model.predict(row), records)
    bulk_s, values = _timed(lambda: np.asarray(model.predict(frame), dtype=float))
    started = time.perf_counter()
    build_wheel(registry.get(second), scratch / "wheels")
    rebuild_s = time.perf_counter() - started
    yield _figures("embedded", one, len(frame), bulk_s, rebuild_s,
                   "wheel build, then app redeploy", "app", True), values


def _api(registry, first, second, frame, records, scratch, report):
    from mldeploy.api import Client
    from mldeploy.ops.local_server import start_api_server

    report("model API: starting `mldeploy serve` on free local ports")
    with start_api_server(registry.url, f"{first.name}:{_ALIAS}", grpc=True) as server:
        swap_s = None  # one server answers both protocols: its swap is measured once, after the HTTP pass
        for protocol, address in (("http", server.url), ("grpc", server.grpc_address)):
            report(f"model API over {protocol}")
            with Client(address, first.name, protocol=protocol) as client:
                one = _one_row_times(lambda row: client.infer(row), records)
                bulk_s, values = _timed(lambda: np.asarray(client.infer(frame).values, dtype=float))
            label = "HTTP" if protocol == "http" else "gRPC"
            if swap_s is None:
                swap_s = _alias_swap(registry, server.url, first, second, records[0])
            yield _figures(f"API over {label}", one, len(frame), bulk_s, swap_s,
                           "alias move until the server swaps", "app, model server, registry", True), values


def _alias_swap(registry, url: str, first, second, row) -> float:
    from mldeploy.api import Client

    with Client(url, first.name) as client:
        started = time.perf_counter()
        registry.set_alias(second, _ALIAS)
        while client.infer(row).version != second.version:
            if time.perf_counter() - started > _SWAP_TIMEOUT_S:
                raise ConfigError(f"the model server did not swap to {second} within {_SWAP_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        return time.perf_counter() - started


def _stream(registry, first, second, frame, records, scratch, report):
    import mldeploy
    from mldeploy.stream import publish

    report("model as data: publishing to a local topic and subscribing")
    topic = f"local://{(scratch / 'topic' / 'models').resolve()}"
    publish(registry.get(first), topic)
    live = mldeploy.subscribe(topic, first.name)
    try:
        if not live.wait_ready(_SWAP_TIMEOUT_S):
            raise ConfigError(f"the subscriber got no version from {topic} within {_SWAP_TIMEOUT_S:.0f} s")
        one = _one_row_times(lambda row: live.predict(row), records)
        bulk_s, values = _timed(lambda: np.asarray(live.predict(frame), dtype=float))
        started = time.perf_counter()
        publish(registry.get(second), topic)
        if not live.wait_for_version(second.version, _SWAP_TIMEOUT_S):
            raise ConfigError(f"the subscriber did not swap to {second} within {_SWAP_TIMEOUT_S:.0f} s")
        swap_s = time.perf_counter() - started
    finally:
        live.close()
    yield _figures("stream (live model)", one, len(frame), bulk_s, swap_s,
                   "publish until the subscriber swaps", "app, topic (broker), publisher", True), values


def _batch(registry, first, second, frame, records, scratch, report):
    from mldeploy.batch.job import run_batch
    from mldeploy.batch.prediction_store import PredictionStore

    report(f"offline prediction: scoring {len(frame):,} rows into sqlite")
    inputs = scratch / "rows.parquet"
    frame.assign(**{_KEY: np.arange(len(frame))}).to_parquet(inputs, index=False)
    db = f"sqlite:///{(scratch / 'predictions.db').resolve()}"
    out = scratch / "predictions.parquet"
    bulk_s, _ = _timed(lambda: run_batch(str(first), inputs, _KEY, db, registry=registry, parquet_out=out))
    stored = pd.read_parquet(out)
    values = stored.assign(key=stored["key"].astype(int)).sort_values("key")["prediction"].to_numpy(dtype=float)
    with PredictionStore(db) as store:
        keys = [str(i) for i in range(min(len(frame), _MAX_ONE_ROW_CALLS))]
        one = _one_row_times(lambda key: store.get(first.name, key, first.version), keys)
    rerun_s, _ = _timed(lambda: run_batch(str(second), inputs, _KEY, db, registry=registry))
    yield _figures("batch (sqlite, lookup)", one, len(frame), bulk_s, rerun_s,
                   "batch rerun", "batch job, prediction database, app", False,
                   one_at_a_time=False), values


def _figures(name, one: np.ndarray, rows: int, bulk_s: float, new_s: float, how: str, parts: str, real_time: bool,
             one_at_a_time: bool = True) -> ArchitectureFigures:
    p50, p99 = np.percentile(one, [50, 99]) * 1e3
    return ArchitectureFigures(name, float(p50), float(p99), float(1 / one.mean()) if one_at_a_time else None,
                               rows / bulk_s, new_s, how, parts, real_time, float("nan"))


def _with_difference(figures: ArchitectureFigures, values: np.ndarray, reference: np.ndarray) -> ArchitectureFigures:
    if values.shape != reference.shape:
        return replace(figures, max_difference=float("inf"))
    return replace(figures, max_difference=float(np.max(np.abs(values - reference))) if len(values) else 0.0)


def _one_row_times(call, items) -> np.ndarray:
    items = list(items)[:_MAX_ONE_ROW_CALLS]
    call(items[0])  # the first call pays for connections and caches
    times = np.empty(len(items))
    for index, item in enumerate(items):
        started = time.perf_counter()
        call(item)
        times[index] = time.perf_counter() - started
    return times


def _timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _rows(bundle, rows: int) -> pd.DataFrame:
    sample = bundle.sample()
    if sample.empty:
        raise ConfigError(f"{bundle.ref} keeps no sample rows to measure with")
    repeats = -(-rows // len(sample))
    return pd.concat([sample] * repeats, ignore_index=True).iloc[:rows].reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    head = frame.head(_MAX_ONE_ROW_CALLS)
    return [{k: (None if v is None or v != v else v) for k, v in row.items()} for row in head.to_dict("records")]
