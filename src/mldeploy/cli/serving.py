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
    max_batch_rows: int = typer.Option(ApiConfig.max_batch_rows, "--max-batch-rows", help="Most rows per micro-batch (one call of the model)."),
    max_wait_ms: float = typer.Option(ApiConfig.max_wait_ms, "--max-wait-ms", help="How long a request may wait for a batch to fill while requests arrive together; 0 never waits."),
    poll_interval_s: float = typer.Option(ApiConfig.poll_interval_s, "--poll-interval", help="Seconds between checks of an alias for a move."),
    cache_dir: str = typer.Option(None, "--cache-dir", help="Keep each model's last good version here, so a restart serves "
                                  "it while the registry or the broker is down.", show_default=False),
    trust: list[str] = typer.Option([], "--trust", help="Trust this type in the pipelines (your own transformer class)."),
    log_level: str = typer.Option(ApiConfig.log_level, "--log-level", help="uvicorn's log level (info shows each start and stop)."),
) -> None:
    """Serve models over HTTP; a NAME:ALIAS swaps to each version the alias moves to, with no failed request.

    Endpoints: `/v2/...` (Open Inference Protocol, with binary tensors), `POST /predict/NAME`
    (JSON records), `/docs`, `/openapi.json`, `/metrics`, `/v2/health/ready`; with `--grpc-port`,
    `inference.GRPCInferenceService`, gRPC health checks and reflection, from the same models.

    Example: `mldeploy serve salary:production --port 8080 --grpc-port 8081 --workers 2`

    Following a topic instead: `mldeploy serve salary --from kafka://127.0.0.1:9092/models`
    """
    from mldeploy.api.server import serve as run

    config = ApiConfig(
        models=tuple(models), registry=state.registry, source=source, host=host, port=port, grpc_port=grpc_port,
        workers=workers,
        token=token if token is not None else os.environ.get(_TOKEN_ENV), max_body_bytes=max_body_bytes,
        max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms, poll_interval_s=poll_interval_s, cache_dir=cache_dir,
        public_key=state.public_key, trusted=tuple(trust), log_level=log_level,
    )

    def listening(url: str, grpc_address: str | None) -> None:
        grpc_text = f", gRPC on {grpc_address}" if grpc_address else ""
        console.print(f"serving {', '.join(models)} on {url} (docs: {url}/docs){grpc_text}", highlight=False)

    run(config, on_listening=listening)
