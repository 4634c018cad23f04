"""The ``serve`` command: run the model API server (Open Inference Protocol and plain JSON)."""

from __future__ import annotations

import os

import typer

from mldeploy.api.config import ApiConfig
from mldeploy.cli.app import app, console, state

_TOKEN_ENV = "MLDEPLOY_API_TOKEN"


@app.command()
def serve(
    models: list[str] = typer.Argument(..., help="NAME:ALIAS (follows the alias), NAME@VERSION or NAME; one or more."),
    source: str = typer.Option(None, "--from", help="Follow the versions published to this topic (kafka://HOST:PORT/TOPIC or "
                               "local:///FOLDER/TOPIC, see `mldeploy publish`) instead of the registry; give model NAMEs.",
                               show_default=False),
    host: str = typer.Option(ApiConfig.host, "--host", help="Interface to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(ApiConfig.port, "--port", help="TCP port; 0 picks a free one (printed)."),
    grpc_port: int = typer.Option(ApiConfig.grpc_port, "--grpc-port", help="Also serve the Open Inference Protocol over gRPC on this port (0: a free one, printed).",
                                  show_default=False),
    workers: int = typer.Option(ApiConfig.workers, "--workers", help="Worker processes on the one port, each serving every model."),
    token: str = typer.Option(None, "--token", help=f"Require 'Authorization: Bearer TOKEN' (or set {_TOKEN_ENV}); health checks stay open.",
                              show_default=False),
    max_body_bytes: int = typer.Option(ApiConfig.max_body_bytes, "--max-body-bytes", help="Largest request body; larger answers 413."),
    max_header_bytes: int = typer.Option(ApiConfig.max_header_bytes, "--max-header-bytes", help="Largest request line "
                                         "and headers together; larger answers 431 and the connection closes."),
    header_timeout_s: float = typer.Option(ApiConfig.header_timeout_s, "--header-timeout", help="Seconds a connection may "
                                           "take to send a request's headers; a slower one is closed."),
    max_json_depth: int = typer.Option(ApiConfig.max_json_depth, "--max-json-depth", help="Deepest nesting of a JSON body "
                                       "(REST) or JSON element (gRPC); deeper answers 400 / INVALID_ARGUMENT."),
    max_issues: int = typer.Option(ApiConfig.max_issues, "--max-issues", help="Most issues a 422 lists (issues_total counts "
                                   "them all); validation stops building them there."),
    max_batch_rows: int = typer.Option(ApiConfig.max_batch_rows, "--max-batch-rows", help="Most rows per micro-batch (one call of the model)."),
    max_wait_ms: float = typer.Option(ApiConfig.max_wait_ms, "--max-wait-ms", help="How long a request may wait for a batch to fill while requests arrive together; 0 never waits."),
    poll_interval_s: float = typer.Option(ApiConfig.poll_interval_s, "--poll-interval", help="Seconds between checks of an alias for a move."),
    cache_dir: str = typer.Option(None, "--cache-dir", help="Keep each model's last good version here, so a restart serves "
                                  "it while the registry or the broker is down.", show_default=False),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipelines (your own transformer class)."),
    log_level: str = typer.Option(ApiConfig.log_level, "--log-level", help="uvicorn's log level (info shows each start and stop)."),
    log_to: str = typer.Option(None, "--log-to", help="Log every prediction (REST and gRPC) to postgresql://…, "
                               "sqlite:///FILE or kafka://HOST:PORT/TOPIC, off the request path; `mldeploy validate` "
                               "reads the database ones.", show_default=False),
    log_key: str = typer.Option(None, "--log-key", help="The request field that keys each logged row (e.g. listing_id); "
                                "taken out before validation. Rows without it are logged under the request id.",
                                show_default=False),
    log_inputs: str = typer.Option("all", "--log-inputs", help="all: log each row's inputs too; none: predictions only."),
    shadow: str = typer.Option(None, "--shadow", help="A challenger (NAME:ALIAS or NAME@VERSION) that scores every "
                               "request after the answer is sent; both logged with one key (see `mldeploy shadow-report`).",
                               show_default=False),
    canary: str = typer.Option(None, "--canary", help="REF=P%: the challenger answers P% of requests, sticky per "
                               "--log-key value (random without one); the share is kept in the registry and can be "
                               "changed there while serving.", show_default=False),
    canary_max_error_rate: float = typer.Option(None, "--canary-max-error-rate", help="Stop the canary (share 0, reason "
                                                "in the registry) when more than this share (0-1) of its recent answers "
                                                "fail.", show_default=False),
    canary_max_p99_ms: float = typer.Option(None, "--canary-max-p99-ms", help="Stop the canary when the p99 latency of "
                                            "its recent answers passes this many ms.", show_default=False),
    log_queue_rows: int = typer.Option(ApiConfig.log_queue_rows, "--log-queue-rows", help="Most rows the log holds while its target is "
                                       "slow or away; more are dropped and counted in /metrics."),
) -> None:
    """Serve models over HTTP; a NAME:ALIAS swaps to each version the alias moves to, with no failed request.

    Endpoints: `/v2/...` (Open Inference Protocol, with binary tensors), `POST /predict/NAME`
    (JSON records), `/docs`, `/openapi.json`, `/metrics`, `/v2/health/ready`; with `--grpc-port`,
    `inference.GRPCInferenceService`, gRPC health checks and reflection, from the same models.

    Example: `mldeploy serve salary:production --port 8080 --grpc-port 8081 --workers 2`

    Following a topic instead: `mldeploy serve salary --from kafka://127.0.0.1:9092/models`
    """
    from mldeploy.api.server import serve as run

    if source is None:
        _check_references(models)
    config = ApiConfig(
        models=tuple(models), registry=state.registry, source=source, host=host, port=port, grpc_port=grpc_port,
        workers=workers,
        token=token if token is not None else os.environ.get(_TOKEN_ENV), max_body_bytes=max_body_bytes,
        max_header_bytes=max_header_bytes, header_timeout_s=header_timeout_s, max_json_depth=max_json_depth,
        max_issues=max_issues, max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms, poll_interval_s=poll_interval_s, cache_dir=cache_dir,
        public_key=state.public_key, trusted=tuple(trust), log_level=log_level,
        log_to=log_to, log_key=log_key, log_inputs=log_inputs_choice(log_inputs), log_queue_rows=log_queue_rows,
        shadow=shadow, canary=canary, canary_max_error_rate=canary_max_error_rate, canary_max_p99_ms=canary_max_p99_ms,
    )
    _check_challengers(config)

    def listening(url: str, grpc_address: str | None) -> None:
        grpc_text = f", gRPC on {grpc_address}" if grpc_address else ""
        console.print(f"serving {', '.join(models)} on {url} (docs: {url}/docs){grpc_text}", highlight=False)

    run(config, on_listening=listening)


def _check_challengers(config) -> None:
    """Refuse, before anything starts, a challenger the registry lacks or that names the version already served."""
    from mldeploy.api.canary_spec import parse_canary
    from mldeploy.api.challenger import check_challenger
    from mldeploy.bundle import BundleRef

    challengers = [(flag, ref) for flag, ref in (
        ("--shadow", BundleRef.parse(config.shadow) if config.shadow else None),
        ("--canary", parse_canary(config.canary)[0] if config.canary else None)) if ref is not None]
    if not challengers:
        return
    with state.open_registry() as registry:
        for flag, challenger in challengers:
            served = next(ref for ref in config.refs if ref.name == challenger.name)
            check_challenger(registry, served, challenger, flag)


def log_inputs_choice(choice: str) -> bool:
    """Read ``--log-inputs``: all (True) or none (False)."""
    if choice not in ("all", "none"):
        from mldeploy.errors import ConfigError

        raise ConfigError(f"--log-inputs must be all or none, got {choice!r}")
    return choice == "all"


def _check_references(models: list[str]) -> None:
    """Stop at once (exit 2, in predict's words) on a reference the registry cannot resolve: a server that
    started anyway answered 503 forever. A version that resolves but fails its checks is still waited for."""
    with state.open_registry() as registry:
        for model in models:
            registry.resolve(model)
