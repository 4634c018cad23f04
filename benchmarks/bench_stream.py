"""The stream adapter on a real Kafka broker (started here with scripts/kafka.sh).

1. Update propagation: the time from `publish` returning to every one of 5
   subscriber processes serving the new version, for 1 MB and 50 MB bundles
   (floor: p50 under 2 s for 50 MB).
2. Streaming scoring throughput, one scorer, in events/s, against the in-process
   limit measured in the same run: `LiveModel.infer` on the same rows in batches
   of the same size (floor: at least 70%), each side the median of 3 interleaved
   rounds. The scorer as `mldeploy stream-score`
   runs it (the model in a process of its own), and with `--in-process` (the
   model on a thread of the scorer's process) for comparison.
3. End-to-end latency (event produced -> prediction readable) at p50 and p99 at
   a steady rate of half the measured maximum.

Run: `.venv/bin/python benchmarks/bench_stream.py [--quick]` (prints a markdown section).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _timing import machine_line, pin_threads  # noqa: E402

pin_threads()

SUBSCRIBERS = 5
MAX_BATCH = 500
BROKER_WARM_UP_S = 120
ROUNDS = 3
SCORER_MODES = {
    "exactly-once": "exactly once (transactions)",
    "at-least-once": "at least once",
    "in-process": "exactly once, model on a thread of the scorer (`--in-process`)",
}
"""How each scorer run predicts and commits (the model in a process of its own, as `mldeploy stream-score` runs it, unless in-process)."""


# ---------------------------------------------------------------- broker
@contextmanager
def kafka_broker():
    """Install and start a broker on a free port with the project's script; stop it at the end."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="mldeploy-bench-kafka-"))
    script = str(REPO / "scripts" / "kafka.sh")
    subprocess.run([script, "install"], check=True)
    subprocess.run([script, "start", str(data), str(port)], check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop", str(data)], check=False)
        subprocess.run(["rm", "-rf", str(data)], check=False)


# ---------------------------------------------------------------- 1. propagation
def subscriber_main(url: str, name: str) -> None:
    """Child process: follow ``name`` on ``url`` and print `version wall-clock-time` at each swap."""
    import mldeploy

    live = mldeploy.subscribe(url, name)
    live.on_swap(lambda event: print(f"{event.ref.version if event.accepted else -1} {time.time()!r}", flush=True))
    sys.stdin.read()  # until the parent closes our stdin
    live.close()


def propagation(bootstrap: str, megabytes: float, rounds: int) -> tuple[float, list[float]]:
    """Publish ``rounds`` new versions of a bundle of ``megabytes``; return its archive MB and the seconds until all serve each."""
    from mldeploy.bundle import Bundle
    from mldeploy.examples import large
    from mldeploy.registry import Registry
    from mldeploy.stream import publish

    url = f"kafka://{bootstrap}/bench-models-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mldeploy-bench-") as scratch:
        pipeline, features = large.pipeline(megabytes)
        bundle = Bundle.from_pipeline(pipeline, features, name="big", directory=Path(scratch) / "b", compile=False)
        registry = Registry(root=Path(scratch) / "registry")
        refs = [registry.register(bundle) for _ in range(rounds + 1)]
        size_mb = publish(registry.get(refs[0]), url).version.archive_bytes / 1e6
        children = [_start_subscriber(url) for _ in range(SUBSCRIBERS)]
        try:
            _wait_all(children, refs[0].version, timeout_s=600)
            times = []
            for ref in refs[1:]:
                published = registry.get(ref)
                publish(published, url)
                returned = time.time()
                times.append(max(_wait_all(children, ref.version, timeout_s=600)) - returned)
            return size_mb, times
        finally:
            for child in children:
                child.stdin.close()
                child.wait(60)


def _start_subscriber(url: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, __file__, "--subscriber", url, "big"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    child.swaps = {}
    threading.Thread(target=_read_swaps, args=(child,), daemon=True).start()
    return child


def _read_swaps(child: subprocess.Popen) -> None:
    for line in child.stdout:
        version, at = line.split()
        child.swaps[int(version)] = float(at)


def _wait_all(children, version: int, timeout_s: float) -> list[float]:
    deadline = time.monotonic() + timeout_s
    while not all(version in child.swaps for child in children):
        if time.monotonic() > deadline or any(child.poll() is not None for child in children):
            raise SystemExit(f"subscribers did not all serve version {version}")
        time.sleep(0.005)
    return [child.swaps[version] for child in children]


# ---------------------------------------------------------------- 2. throughput
def salary_setup(bootstrap: str, scratch: Path):
    """Register and publish the salary model; return (model url, live model, event rows)."""
    import mldeploy
    from mldeploy.bundle import Bundle
    from mldeploy.examples import salary
    from mldeploy.registry import Registry
    from mldeploy.stream import publish

    train = salary.generate(20_000, seed=7)
    features = train.drop(columns=salary.TARGET)
    pipeline = salary.default_pipeline().fit(features, train[salary.TARGET])
    registry = Registry(root=scratch / "registry")
    ref = registry.register(Bundle.from_pipeline(pipeline, features, name="salary", directory=scratch / "b"))
    url = f"kafka://{bootstrap}/bench-salary-{uuid.uuid4().hex[:8]}"
    publish(registry.get(ref), url)
    live = mldeploy.subscribe(url, "salary")
    live.wait_ready(120)
    events = salary.generate(200_000, seed=8).drop(columns=salary.TARGET)
    rows = [{k: (None if v != v else v) for k, v in row.items()} for row in events.to_dict(orient="records")]
    return url, live, rows


def produce(bootstrap: str, topic: str, rows: list[dict], partitions: int = 4) -> None:
    """Create ``topic`` and write one JSON event per row, keyed by its index."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for index, row in enumerate(rows):
        while True:
            try:
                producer.produce(topic, json.dumps(row).encode(), str(index).encode())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def in_process_limit(live, rows: list[dict]) -> float:
    """Rows/s of one pass of live.infer over the same rows as dicts, in batches of MAX_BATCH."""
    started = time.perf_counter()
    for start in range(0, len(rows), MAX_BATCH):
        live.infer(rows[start:start + MAX_BATCH], missing="as-trained")
    return len(rows) / (time.perf_counter() - started)


def scorer_throughput(bootstrap: str, model_url: str, rows: list[dict], mode: str) -> float:
    """Events/s of one scorer process over ``rows`` already on the input topic, in ``mode`` (see SCORER_MODES)."""
    return scorer_run(bootstrap, model_url, rows, mode)[0]


def scorer_run(bootstrap: str, model_url: str, rows: list[dict], mode: str) -> tuple[float, float]:
    """Events/s of one scorer process, and the machine's CPU µs an event from its first event to its log's last write."""
    topic = f"bench-events-{uuid.uuid4().hex[:8]}"
    produce(bootstrap, topic, rows)
    run = subprocess.run([sys.executable, __file__, "--scorer", bootstrap, model_url, topic, mode],
                         stdout=subprocess.PIPE, text=True, timeout=600)
    if run.returncode != 0:
        raise SystemExit(f"the {mode} scorer failed (exit code {run.returncode}); its error is printed above")
    events, busy_s, machine_cpu_s = run.stdout.split()[-3:]
    if int(events) != len(rows):
        raise SystemExit(f"the scorer read {events} events of {len(rows)}")
    return int(events) / float(busy_s), float(machine_cpu_s) / int(events) * 1e6


def scorer_main(bootstrap: str, model_url: str, topic: str, mode: str) -> None:
    """Child process: score ``topic`` once as `mldeploy stream-score` does; print the events read and the busy seconds.

    A process of its own, like the CLI's: in the benchmark's process, the garbage collector
    would walk the 200,000 rows kept for the limit, and the limit's live model would share it.
    """
    from mldeploy.stream.predictors import ModelSpec
    from mldeploy.stream.scorer import ScorerConfig, StreamScorer
    from mldeploy.stream.transport import parse_url

    config = ScorerConfig(parse_url(f"kafka://{bootstrap}/{topic}"), parse_url(f"kafka://{bootstrap}/{topic}-out"),
                          max_batch=MAX_BATCH, exactly_once=mode != "at-least-once", group=f"bench-{topic}")
    spec = ModelSpec(model_url, "salary")
    with CpuSampler() as cpu:
        if mode == "logged":  # every prediction also logged to the database the parent started (--with-logging)
            from mldeploy.serving.prediction_log import open_prediction_log

            log = open_prediction_log(os.environ[LOG_URL_ENV])
            scorer = StreamScorer(spec, config, prediction_log=log)
            stats = scorer.run(idle_exit_s=3.0)
            log.close(timeout_s=120)  # its last writes count: the log's work is part of the scorer's
            end = time.monotonic()
            if log.dropped:
                progress(f"the prediction log dropped {log.dropped:,} rows")
        elif mode == "in-process":
            with spec.open() as live:
                scorer = StreamScorer(live, config)
                stats = scorer.run(idle_exit_s=3.0)
            end = scorer._first_event_at + stats.busy_s
        else:
            scorer = StreamScorer(spec, config)
            stats = scorer.run(idle_exit_s=3.0)
            end = scorer._first_event_at + stats.busy_s
    # every process's CPU (scorer, model process, broker, PostgreSQL) from the first event to the last write
    print(stats.events, stats.busy_s, cpu.between(scorer._first_event_at, end))


class CpuSampler:
    """Samples the machine's busy CPU seconds every 20 ms on a thread; ``between`` interpolates a window's share."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), machine_cpu_s()))
            if self._stop.wait(0.02):
                self.samples.append((time.monotonic(), machine_cpu_s()))
                return

    def between(self, start: float, end: float) -> float:
        """Busy CPU seconds of the whole machine from ``start`` to ``end`` (monotonic times)."""
        times, values = zip(*self.samples)
        import numpy as np

        return float(np.interp(end, times, values) - np.interp(start, times, values))


def machine_cpu_s() -> float:
    """Seconds of CPU the whole machine has spent busy since boot (every core, every process; /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def warm_up(bootstrap: str, model_url: str, rows: list[dict], seconds: float) -> None:
    """Score ``rows`` again and again, not counted, until the broker is warm: a young broker's JVM is still compiling.

    At least ``seconds``, then until three runs in a row agree within 4% (at most three times
    ``seconds``). On a broker three minutes old the same scorer ran 46,000, 50,000, then
    56,000-60,000 events/s; on one up for an hour, 60,000-68,000; after a fixed 2 minutes,
    the rate was often still climbing.
    """
    started, rates = time.monotonic(), []
    while True:
        rates.append(scorer_throughput(bootstrap, model_url, rows, "exactly-once"))
        progress(f"warming the broker up: {rates[-1]:,.0f} events/s")
        elapsed = time.monotonic() - started
        steady = len(rates) >= 3 and min(rates[-3:]) >= 0.96 * max(rates[-3:])
        if elapsed >= 3 * seconds or (elapsed >= seconds and steady):
            return


# ---------------------------------------------------------------- 3. latency
def latency(bootstrap: str, model_url: str, rows: list[dict], rate: float, seconds: float) -> list[float]:
    """Produce at ``rate`` events/s to a scorer process; return each event's produce -> readable seconds."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    # Every event's bytes before the scorer starts: making them took seconds, and a scorer that saw nothing
    # for longer than its idle exit after the first event quit before the stream began (no prediction came)
    count = int(rate * seconds)
    events = [json.dumps(rows[i % len(rows)]).encode() for i in range(count)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in (topic, f"{topic}-out"):
        admin.create_topics([NewTopic(name, 4, 1)])[name].result(30)
    scorer = subprocess.Popen([sys.executable, "-c", "from mldeploy.cli import main; main()", "stream-score", "--models", model_url,
                               "--name", "salary", "--in", f"kafka://{bootstrap}/{topic}",
                               "--out", f"kafka://{bootstrap}/{topic}-out", "--max-batch", str(MAX_BATCH),
                               "--group", f"bench-{topic}", "--idle-exit", "60"], stdout=subprocess.DEVNULL)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}", "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    consumer.assign([TopicPartition(f"{topic}-out", p, 0) for p in range(4)])
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    # A daemon: when predictions are missing it never finishes, and the benchmark must still stop with the count
    reader = threading.Thread(target=_receive, args=(consumer, received, lambda: len(received) >= len(sent) > 0 and done.is_set()),
                              daemon=True)
    done = threading.Event()
    reader.start()
    # librdkafka's default linger (5 ms), as an application producing events would run it: with 0, every
    # event went in its own request, and at 10,000 events/s the broker fell behind (p50 0.2-0.8 s, 80 ms with 5)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    _warm_up(producer, topic, rows, received, sent)
    # As long again at the same rate first, not counted: a young broker's JVM is still compiling its hot paths
    # (p50 1.8 s on a broker a minute old, 0.18 s a minute later, 0.09 s on one up for an hour; same scorer)
    _produce_steadily(producer, topic, events, rate, sent, prefix="w")
    _produce_steadily(producer, topic, events, rate, sent)
    producer.flush(60)
    done.set()
    reader.join(120)
    alive = scorer.poll() is None
    scorer.terminate()
    scorer.wait(60)
    measured = [k for k in sent if k.startswith(b"e")]
    delays = [received[k] - sent[k] for k in measured if k in received]
    if len(delays) < len(measured):
        raise SystemExit(f"{len(measured) - len(delays):,} of the {len(measured):,} measured events got no prediction within "
                         f"2 minutes of the last ({len(received):,} predictions in all; the scorer "
                         f"{'was still running' if alive else 'had exited'})")
    return delays


def _produce_steadily(producer, topic: str, events: list[bytes], rate: float, sent: dict, prefix: str = "e") -> None:
    """Produce ``events`` keyed ``<prefix><index>`` at ``rate``: every millisecond, the ones due by then.

    Sleeping between ticks leaves the cores to the broker and the scorer (a loop that spins
    until each event's time would take one of the machine's two).
    """
    started, produced, count = time.perf_counter(), 0, len(events)
    while produced < count:
        due = min(count, int((time.perf_counter() - started) * rate) + 1)
        for index in range(produced, due):
            key = f"{prefix}{index}".encode()
            sent[key] = time.time()
            producer.produce(topic, events[index], key)
        produced = due
        producer.poll(0)
        time.sleep(0.001)


def _warm_up(producer, topic, rows, received, sent) -> None:
    """Send one event and wait for its prediction: the scorer has joined its group and loaded the model."""
    sent[b"warm"] = time.time()
    producer.produce(topic, json.dumps(rows[0]).encode(), b"warm")
    producer.flush(30)
    deadline = time.monotonic() + 180
    while b"warm" not in received:
        if time.monotonic() > deadline:
            raise SystemExit("the scorer answered no event in 180 s")
        time.sleep(0.01)


def _receive(consumer, received: dict, finished) -> None:
    while not finished():
        for message in consumer.consume(1000, 0.05):
            if message.error() is None:
                received[message.key()] = time.time()
    consumer.close()


# ---------------------------------------------------------------- report
def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scoring(bootstrap: str, scratch: Path, quick: bool) -> list[str]:
    """Throughput of one scorer against the in-process limit, then latency at half its maximum; markdown lines.

    Like with like: each round measures, per mode, one pass of the limit and then one scorer run over
    the same rows, and each side's figure is the median of its rounds (the machine's load drifts by
    several percent within a minute, on both sides).
    """
    progress("scoring throughput")
    model_url, live, rows = salary_setup(bootstrap, scratch)
    rows = rows[:40_000] if quick else rows
    gc.freeze()  # the rows and the model live to the end: the collector need not walk them during the latency step
    rounds = 1 if quick else ROUNDS
    warm_up(bootstrap, model_url, rows, 30 if quick else BROKER_WARM_UP_S)
    measured: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in SCORER_MODES.values()}
    for round_ in range(rounds):
        for mode, label in SCORER_MODES.items():
            limits, rates = measured[label]
            limits.append(in_process_limit(live, rows))  # just before the scorer's run: a shared machine's load drifts
            rates.append(scorer_throughput(bootstrap, model_url, rows, mode))
            progress(f"round {round_ + 1}/{rounds}, {label}: {rates[-1]:,.0f} events/s, limit {limits[-1]:,.0f} rows/s")
    lines = ["", f"### Streaming scoring, one scorer, micro-batches of {MAX_BATCH} (salary model, {len(rows):,} events)", "",
             f"Medians of {rounds} interleaved rounds; each round runs, per mode, one pass of the in-process limit "
             "(`LiveModel.infer`, same rows as dicts, same batches) and then one scorer run. Each run's own figures follow the table.",
             "", "| mode | events/s | in-process limit | ratio | floor |", "|---|---:|---:|---:|---|"]
    for label, (limits, rates) in measured.items():
        ratio = statistics.median(rates) / statistics.median(limits)
        lines.append(f"| {label} | {statistics.median(rates):,.0f} | {statistics.median(limits):,.0f} | {ratio:.0%} "
                     f"| >= 70%: {'met' if ratio >= 0.7 else 'NOT met'} |")
    lines.append("")
    for label, (limits, rates) in measured.items():
        runs = ", ".join(f"{rate:,.0f} / {limit:,.0f}" for limit, rate in zip(limits, rates))
        lines.append(f"- {label}, each round (events/s / limit rows/s): {runs}")
    half = statistics.median(measured[SCORER_MODES['exactly-once']][1]) / 2
    progress(f"latency at {half:,.0f} events/s")
    delays = latency(bootstrap, model_url, rows, half, 5 if quick else 15)
    lines += ["", f"### End-to-end latency at {half:,.0f} events/s (half the exactly-once median), scorer in its own process", "",
              "| events | p50 | p99 |", "|---:|---:|---:|",
              f"| {len(delays):,} | {pct(delays, 0.5) * 1e3:,.0f} ms | {pct(delays, 0.99) * 1e3:,.0f} ms |"]
    live.close()
    return lines


LOG_URL_ENV = "MLDEPLOY_BENCH_LOG_URL"


def scoring_with_logging(bootstrap: str, scratch: Path, quick: bool, sink: str = "postgresql") -> list[str]:
    """Events/s of one scorer (exactly once) without and with ``--log-to`` (PostgreSQL, or a topic on the same
    broker with ``sink="kafka"``), interleaved rounds; markdown lines."""
    progress(f"scoring with and without the prediction log ({sink})")
    model_url, live, rows = salary_setup(bootstrap, scratch)
    live.close()
    rows = rows[:40_000] if quick else rows
    pg_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    if sink == "kafka":
        os.environ[LOG_URL_ENV] = f"kafka://{bootstrap}/bench-prediction-log"
    else:
        pg_port = _free_port()
        subprocess.run([str(REPO / "scripts" / "postgres.sh"), "start", str(pg_dir), str(pg_port)], check=True)
        os.environ[LOG_URL_ENV] = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
    try:
        rounds = 1 if quick else ROUNDS
        warm_up(bootstrap, model_url, rows, 30 if quick else BROKER_WARM_UP_S)
        plain, logged, plain_cpu, logged_cpu = [], [], [], []
        for round_ in range(rounds):
            for rates, cpus, mode in ((plain, plain_cpu, "exactly-once"), (logged, logged_cpu, "logged")):
                rate, cpu = scorer_run(bootstrap, model_url, rows, mode)
                rates.append(rate)
                cpus.append(cpu)
            progress(f"round {round_ + 1}/{rounds}: {plain[-1]:,.0f} events/s plain, {logged[-1]:,.0f} logged; "
                     f"machine CPU {plain_cpu[-1]:.1f} / {logged_cpu[-1]:.1f} µs an event")
    finally:
        if sink != "kafka":
            subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", str(pg_dir)], check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)
    ratio = statistics.median(q / p for p, q in zip(plain, logged))  # rounds are paired: each its own ratio
    cpu_plain, cpu_logged = statistics.median(plain_cpu), statistics.median(logged_cpu)
    rounds_text = "; ".join(f"{p:,.0f} / {q:,.0f}" for p, q in zip(plain, logged))
    return ["", f"### Streaming scoring with the prediction log (`--with-logging`, {len(rows):,} events, exactly once)", "",
            f"Medians of {rounds} interleaved rounds; the log writes to "
            f"{'a topic on the same broker' if sink == 'kafka' else 'PostgreSQL (COPY)'} on a thread of the scorer. "
            f"Machine CPU: every process's CPU time (scorer, model process, broker{'' if sink == 'kafka' else ', PostgreSQL'}) "
            "from the scorer's first "
            "event to its last commit (with the log: to the log's last write), an event.", "",
            "| scorer | events/s | machine CPU an event |", "|---|---:|---:|",
            f"| no log | {statistics.median(plain):,.0f} | {cpu_plain:.1f} µs |",
            f"| `--log-to {'kafka' if sink == 'kafka' else 'postgresql'}://…` | {statistics.median(logged):,.0f} | {cpu_logged:.1f} µs |",
            "", f"With logging: {ratio:.0%} of the events/s without, the median of the rounds' ratios "
            f"(floor >= 85%: {'met' if ratio >= 0.85 else 'NOT met'}). "
            f"Rounds (plain / logged events/s): {rounds_text}. The log adds {cpu_logged - cpu_plain:.1f} µs of the "
            f"machine's CPU an event (its writer thread, {'the broker' if sink == 'kafka' else 'PostgreSQL'}, the kernel's copies)."]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscriber", nargs=2)
    parser.add_argument("--scorer", nargs=4)
    parser.add_argument("--scoring-only", action="store_true", help="skip the propagation measurements")
    parser.add_argument("--propagation-only", action="store_true", help="skip the scoring measurements")
    parser.add_argument("--with-logging", action="store_true", help="only the scorer with and without --log-to "
                        "PostgreSQL (needs scripts/postgres.sh install)")
    parser.add_argument("--log-sink", choices=("postgresql", "kafka"), default="postgresql",
                        help="with --with-logging: where the log writes (kafka: a topic on the benchmark's broker)")
    args = parser.parse_args()
    if args.subscriber:
        return subscriber_main(*args.subscriber)
    if args.scorer:
        return scorer_main(*args.scorer)
    rounds = 3 if args.quick else 7
    lines = ["## Stream adapter on a real Kafka broker (`benchmarks/bench_stream.py`)", "", machine_line() + "; "
             "one KRaft broker on 127.0.0.1 (scripts/kafka.sh), Kafka 4.4.0, confluent-kafka.", ""]
    with kafka_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="mldeploy-bench-") as scratch:
        if args.with_logging:
            print("\n".join(lines + scoring_with_logging(bootstrap, Path(scratch), args.quick, args.log_sink)))
            return
        lines += ["### Update propagation: `publish` returned -> all 5 subscriber processes serve the version", "",
                  "| bundle archive | rounds | p50 | max | floor |", "|---|---:|---:|---:|---|"]
        for megabytes in () if args.scoring_only else (1, 50):
            progress(f"propagation of {megabytes} MB bundles to {SUBSCRIBERS} subscribers, {rounds} rounds")
            size_mb, times = propagation(bootstrap, megabytes, rounds)
            floor = ("p50 < 2 s: " + ("met" if statistics.median(times) < 2 else "NOT met")) if megabytes >= 50 else "—"
            lines.append(f"| {size_mb:.1f} MB | {len(times)} | {statistics.median(times):.2f} s | {max(times):.2f} s | {floor} |")
        if not args.propagation_only:
            lines += scoring(bootstrap, Path(scratch), args.quick)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
