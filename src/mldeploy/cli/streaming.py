"""Commands of the stream adapter: publish versions to a topic, list a topic, score a stream."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from mldeploy._stack_dumps import print_stacks_on_sigusr1
from mldeploy.cli.app import app, console, state
from mldeploy.cli.render import table
from mldeploy.cli.serving import log_inputs_choice
from mldeploy.stream.scorer_config import ScorerConfig, dead_letter_topic_for


@app.command()
def publish(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS or NAME (latest) in the registry."),
    to: str = typer.Option(..., "--to", help="kafka://HOST:PORT/TOPIC or local:///FOLDER/TOPIC."),
    topic: str = typer.Option(None, "--topic", help="Publish to this topic instead of the URL's (e.g. models-canary)."),
    follow: bool = typer.Option(False, "--follow", help="Keep running: publish each version NAME:ALIAS moves to "
                                "(rollbacks too), once each, continuing where a previous relay stopped."),
) -> None:
    """Publish a registered version to a model topic; subscribers swap it in (an older version is a rollback).

    Example: `mldeploy publish salary@3 --to kafka://127.0.0.1:9092/models`

    As a relay: `mldeploy publish salary:production --to kafka://127.0.0.1:9092/models --follow`
    """
    from mldeploy.stream import publish as publish_bundle

    if follow:
        _follow(ref, to, topic)
        return
    with state.open_registry() as registry:
        bundle = registry.get(ref)
        published = publish_bundle(bundle, to, topic=topic)
    v = published.version
    console.print(f"published {v.ref} to {published.location.url()}: {v.archive_bytes / 1024:,.0f} KiB "
                  f"in {v.chunk_count} chunk(s), {'signed' if v.signed else 'unsigned'}")


def _follow(ref: str, url: str, topic: str | None) -> None:
    """Relay every move of NAME:ALIAS to ``url`` until SIGTERM or Ctrl-C."""
    import threading

    from mldeploy.bundle import BundleRef
    from mldeploy.errors import ConfigError
    from mldeploy.ops.relay import Relay

    parsed = BundleRef.parse(ref)
    if parsed.alias is None:
        raise ConfigError(f'--follow follows an alias: give NAME:ALIAS (e.g. {parsed.name}:production), not "{ref}"')
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with state.open_registry() as registry:
        registry.resolve(parsed)  # an alias that does not exist is the user's mistake: say so now
        relay = Relay(registry, parsed.name, parsed.alias, url, topic, on_relayed=lambda done: console.print(
            f"{'published' if done.published else 'already on the topic:'} {parsed.name}@{done.version}", highlight=False))
        console.print(f"following {ref} → {relay.location.url()}", highlight=False)
        relay.run(stop, on_error=lambda exc: console.print(f"[yellow]will retry[/]: {exc}", highlight=False))


@app.command("topic")
def show_topic(
    url: str = typer.Argument(..., help="kafka://HOST:PORT/TOPIC or local:///FOLDER/TOPIC."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the broker."),
) -> None:
    """List the models on a topic: versions published, the latest, its size and whether it is signed.

    Example: `mldeploy topic kafka://127.0.0.1:9092/models`
    """
    from mldeploy.stream.index import read_index
    from mldeploy.stream.transport import parse_url
    from mldeploy.stream.schemes import open_transport

    location = parse_url(url)
    transport = open_transport(location)
    try:
        index = read_index(transport, location.topic, timeout_s)
    finally:
        transport.close()
    rows = [[name, ", ".join(str(v) for v in sorted(index.versions[name])), latest.version,
             f"{latest.archive_bytes / 1024:,.0f} KiB", "yes" if latest.signed else "no", _when(latest.published_at)]
            for name, latest in sorted(index.latest.items())]
    if not rows:
        console.print(f"no models on {location.url()} yet: run `mldeploy publish NAME@VERSION --to {location.url()}`")
        return
    console.print(table(f"Models on {location.url()}", ["model", "versions", "latest", "size", "signed?", "published (UTC)"], rows,
                        whole=("published (UTC)",)))
    for problem in index.problems:
        console.print(f"[yellow]skipped[/] {problem}")


def _when(published_at: str) -> str:
    """An ISO timestamp as ``2026-12-05 20:31:12.345`` (UTC), whole."""
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(published_at).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return str(published_at)  # written by another tool: shown as it is
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@app.command("stream-score")
def stream_score(
    models: str = typer.Option(..., "--models", help="The model topic, e.g. kafka://127.0.0.1:9092/models."),
    name: str = typer.Option(..., "--name", help="The model to score with, e.g. salary."),
    input_url: str = typer.Option(..., "--in", help="Events: kafka://HOST:PORT/TOPIC of JSON objects."),
    output_url: str = typer.Option(..., "--out", help="Predictions: kafka://HOST:PORT/TOPIC (same cluster as --in)."),
    dead_letter: str = typer.Option(None, "--dead-letter", show_default=False,
                                    help=f"Topic for invalid events (default: the input topic's name followed by "
                                         f"'.dead-letter', e.g. {dead_letter_topic_for('salary-requests')})."),
    group: str = typer.Option(ScorerConfig.group, "--group", help="Consumer group; scorers in one group share partitions."),
    instance: str = typer.Option(None, "--instance", help="Stable name in the group: a restart with it takes over at once."),
    max_batch: int = typer.Option(ScorerConfig.max_batch, "--max-batch", help="Events per micro-batch at most."),
    ignore_extra: bool = typer.Option(False, "--ignore-extra", help="Drop event fields the model doesn't know (an id, "
                                      "a timestamp) instead of sending the event to the dead letters."),
    at_least_once: bool = typer.Option(False, "--at-least-once", help="Commit after acknowledgement instead of transactions."),
    commit_interval: float = typer.Option(ScorerConfig.commit_interval_s, "--commit-interval", help="Seconds of batches per commit while behind "
                                          "the input (once caught up, it commits every 0.03 s)."),
    outage_limit: float = typer.Option(ScorerConfig.outage_limit_s, "--outage-limit", help="Seconds the broker may "
                                       "be unreachable: meanwhile the scorer waits and retries (an aborted "
                                       "transaction's events are read again); past it, it exits 1, having committed "
                                       "nothing it did not write."),
    pin: int = typer.Option(None, "--pin", help="Hold this version instead of following the latest."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Keep the last good version here (served if the broker is down)."),
    require_signed: bool = typer.Option(False, "--require-signed", help="Refuse unsigned versions."),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipeline (your own transformer class)."),
    idle_exit_s: float = typer.Option(None, "--idle-exit", help="Exit after this many seconds without events."),
    in_process: bool = typer.Option(False, "--in-process", help="Predict on a thread of this process instead of a "
                                    "process of its own (which runs beside the Kafka work on another core)."),
    log_to: str = typer.Option(None, "--log-to", help="Log every prediction to "
                               "postgresql://…, sqlite:///FILE or kafka://HOST:PORT/TOPIC; `mldeploy validate` reads "
                               "the database ones.", show_default=False),
    log_key: str = typer.Option(None, "--log-key", help="The event field that keys each logged prediction (taken out "
                                "before validation); default: the event's Kafka key.", show_default=False),
    log_inputs: str = typer.Option("all", "--log-inputs", help="all: log each event too; none: predictions only."),
    log_queue_rows: int = typer.Option(100_000, "--log-queue-rows", help="Most rows the log holds while its target is "
                                       "slow or away; more are dropped and counted."),
) -> None:
    """Score a topic of JSON events into a topic of predictions with the newest good model version.

    The model predicts in a process of its own, which follows the model topic and swaps
    versions; this one reads events, writes predictions and commits. A scorer that seems
    stuck prints what each of its threads is doing on `kill -USR1 PID`, and carries on;
    so does its prediction process (its child).

    Example: `mldeploy stream-score --models kafka://127.0.0.1:9092/models --name salary
    --in kafka://127.0.0.1:9092/salary-requests --out kafka://127.0.0.1:9092/salary-predictions`
    """
    from mldeploy.stream.predictors import ModelSpec
    from mldeploy.stream.transport import parse_url

    print_stacks_on_sigusr1()  # see the help above; before anything that might seem stuck
    parse_url(models)  # a bad URL is the user's mistake: say so before starting anything
    config = ScorerConfig(parse_url(input_url), parse_url(output_url), dead_letter or "", group, instance or "",
                          max_batch, exactly_once=not at_least_once, commit_interval_s=commit_interval,
                          caught_up_commit_s=min(ScorerConfig.caught_up_commit_s, max(commit_interval, 0.0)),
                          extra="ignore" if ignore_extra else "reject", log_key=log_key, outage_limit_s=outage_limit)
    spec = ModelSpec(models, name, pin=pin, public_key=state.public_key, require_signed=require_signed,
                     cache_dir=str(cache_dir) if cache_dir else None, trusted=tuple(trust), print_swaps=True)
    with_inputs = log_inputs_choice(log_inputs)
    prediction_log = _open_log(log_to, log_queue_rows)
    console.print(f"scoring {config.source.url()} -> {config.output.url()} with {name} from {models}")
    try:
        if in_process:
            with spec.open() as live:
                stats = _score(live, config, idle_exit_s, prediction_log, with_inputs)
        else:
            stats = _score(spec, config, idle_exit_s, prediction_log, with_inputs)
    finally:
        if prediction_log is not None:
            prediction_log.close(timeout_s=30)
    rate = f" in {stats.busy_s:.1f} s ({stats.events / stats.busy_s:,.0f} events/s)" if stats.busy_s > 0 else ""
    console.print(f"scored {stats.events:,} events{rate}: {stats.predictions:,} predictions, {stats.dead_letters:,} dead letters")
    if prediction_log is not None:
        console.print(f"logged {prediction_log.written:,} predictions to {prediction_log.describe()}: "
                      f"{prediction_log.dropped:,} dropped, {prediction_log.unkeyed:,} without a key")


def _open_log(url: str | None, queue_rows: int):
    if url is None:
        return None
    from mldeploy.serving.prediction_log import check_log_url, open_prediction_log

    check_log_url(url)
    return open_prediction_log(url, max_queued_rows=queue_rows)


def _score(model, config, idle_exit_s: float | None, prediction_log=None, log_inputs: bool = True):
    """Run a scorer until SIGTERM, Ctrl-C or ``idle_exit_s`` without events; return its counts."""
    from mldeploy.stream.scorer import StreamScorer

    scorer = StreamScorer(model, config, on_assign=lambda parts: console.print(
        "assigned partitions: " + (", ".join(f"{t}[{p}]" for t, p in parts) or "none")),
                          prediction_log=prediction_log, log_inputs=log_inputs)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scorer.stop())
    return scorer.run(idle_exit_s=idle_exit_s)


@app.command()
def send(
    input: Path = typer.Argument(..., help="Rows to send: CSV, Parquet, JSON or JSON Lines (e.g. from `mldeploy generate`)."),
    to: str = typer.Option(..., "--to", help="The events topic: kafka://HOST:PORT/TOPIC (created if missing)."),
    key: str = typer.Option(None, "--key", show_default=False,
                            help="The column that keys each event (left out of the event); default: the row number."),
) -> None:
    """Send each row of a table as one JSON event to a topic, for `mldeploy stream-score` to score.

    Example: `mldeploy send candidates.csv --to kafka://127.0.0.1:9092/salary-requests --key employee_id`
    """
    from mldeploy.stream.events import send_events
    from mldeploy.stream.transport import parse_url
    from mldeploy.tables import read_table

    location = parse_url(to)  # a bad URL is the user's mistake: say so before reading the table
    sent = send_events(read_table(input), to, key=key)
    console.print(f"sent {sent:,} events to {location.url()}" + (f", keyed by {key}" if key else ""), highlight=False)


@app.command("read")
def read_topic(
    url: str = typer.Argument(..., help="kafka://HOST:PORT/TOPIC (e.g. the predictions of `mldeploy stream-score`)."),
    limit: int = typer.Option(10, "--limit", min=1, max=10_000, help="Print at most this many messages, from the first."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the first message."),
) -> None:
    """Print the first messages of a topic: key, the model version that wrote it (if any) and the value.

    Only committed messages are read, so a scorer's predictions show once their transaction commits.

    Example: `mldeploy read kafka://127.0.0.1:9092/salary-predictions --limit 5`
    """
    from mldeploy.stream.codec import MODEL_HEADER
    from mldeploy.stream.schemes import open_transport
    from mldeploy.stream.transport import parse_url

    location = parse_url(url)
    transport = open_transport(location)
    try:
        if location.scheme == "kafka":
            transport.metadata(location.topic)  # a missing topic says so, instead of waiting for nothing
        records, _ = transport.read(location.topic, 0, timeout_s, limit=limit)
    finally:
        transport.close()
    if not records:
        console.print(f"no messages on {location.url()} within {timeout_s:g} s")
        return
    rows = [[r.key.decode(errors="replace"), dict(r.headers).get(MODEL_HEADER, b"").decode(errors="replace"),
             r.value.decode(errors="replace")] for r in records]
    console.print(table(f"First {len(rows)} message(s) on {location.url()}", ["key", "model", "value"], rows))
