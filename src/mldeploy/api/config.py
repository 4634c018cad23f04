"""ApiConfig: everything the server is told, built once at the edge (CLI flags and environment).

Library code never reads the environment: ``mldeploy serve`` builds this and
passes it down, also to worker processes (it is a frozen, picklable value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mldeploy._constraints import bounded, check_fields
from mldeploy.api.canary_spec import parse_canary
from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import ConfigError
from mldeploy.serving.model_source import check_source_url
from mldeploy.serving.prediction_log import check_log_url

__all__ = ["ApiConfig"]

_MAX_PORT = 65535


@dataclass(frozen=True)
class ApiConfig:
    """How to run the API server; every field has a sensible default except the models."""

    models: tuple[str, ...]
    """References to serve: ``name:alias`` (follows the alias), ``name@version`` (fixed) or ``name``."""
    registry: str | None = None
    """Registry folder or database URL (None: ./.mldeploy)."""
    source: str | None = None
    """Follow the versions published at this URL (``kafka://HOST:PORT/TOPIC``, ``local:///FOLDER/TOPIC``) instead of a registry."""
    host: str = "127.0.0.1"
    """Interface to bind; loopback unless told otherwise."""
    port: int = bounded(8080, 0, _MAX_PORT, flag="--port")
    """TCP port; 0 lets the OS choose (the server prints the one it got)."""
    grpc_port: int | None = bounded(None, 0, _MAX_PORT, flag="--grpc-port")
    """Also serve the Open Inference Protocol over gRPC on this port (0: a free one, printed); None: REST only."""
    workers: int = bounded(1, 1, 64, flag="--workers")
    """Worker processes sharing the port, each serving every model."""
    token: str | None = field(default=None, repr=False)
    """Bearer token every request but health checks must carry; None: no auth."""
    max_body_bytes: int = bounded(64 * 1024 * 1024, 1024, 2**40, flag="--max-body-bytes")
    """Largest request body accepted; larger answers 413."""
    max_header_bytes: int = bounded(64 * 1024, 1024, 16 * 1024 * 1024, flag="--max-header-bytes")
    """Largest request head (request line and headers) accepted; a larger one answers 431 and the connection closes."""
    header_timeout_s: float = bounded(10.0, 0.01, 3600, flag="--header-timeout")
    """A connection that has not finished sending a request's headers this long after it began them
    (or, for its first request, after it connected) is closed."""
    max_json_depth: int = bounded(64, 8, 512, flag="--max-json-depth")
    """Deepest nesting of a JSON body or JSON element read (a V2 request nests 5 levels, ``/predict`` 2); deeper answers 400
    before it is parsed. At most 512: code that walks what was read may recurse once per level."""
    max_issues: int = bounded(1000, 1, 1_000_000, flag="--max-issues")
    """A 422 lists at most this many issues (``issues_total`` counts them all), and validation builds no more than that."""
    max_batch_rows: int = bounded(256, 1, 1_000_000, flag="--max-batch-rows")
    """Most rows the micro-batcher puts in one call of the serving core."""
    max_wait_ms: float = bounded(0.0, 0, 10_000, flag="--max-wait-ms")
    """How long a request may wait for others to join its batch while the model is busy; 0: never wait."""
    inline_max_rows: int = bounded(64, 0, 1_000_000)
    """Batches up to this many rows on the compiled path run on the event loop (tens of µs); others in a thread."""
    cache_dir: str | None = None
    """Keep each model's last good version here; a restart serves it while the registry or broker is down."""
    poll_interval_s: float = bounded(0.5, 0.01, 3600, flag="--poll-interval")
    """How often an alias is checked for a move."""
    public_key: bytes | None = field(default=None, repr=False)
    """Ed25519 public key (PEM): refuse bundles not signed by it."""
    trusted: tuple[str, ...] = ()
    """Extra types the pipelines may hold (your own transformers)."""
    use_compiled: bool = True
    """Predict with the compiled form when a bundle has one."""
    graceful_timeout_s: float = bounded(30.0, 0, 3600)
    """On SIGTERM, how long in-flight requests may take to finish."""
    log_level: str = "warning"
    """uvicorn's log level."""
    log_to: str | None = field(default=None, repr=False)
    """Log every prediction here (``postgresql://…``, ``sqlite:///…``, ``kafka://HOST:PORT/TOPIC``); None: no log."""
    log_key: str | None = None
    """The request field that keys each logged row (taken out before validation); None: rows keyed by request id."""
    log_inputs: bool = True
    """Log each row's inputs beside its prediction (``--log-inputs none``: False)."""
    log_queue_rows: int = bounded(100_000, 1, 100_000_000, flag="--log-queue-rows")
    """Most rows the prediction log holds while its target is slow or away; more are dropped and counted."""
    shadow: str | None = None
    """A challenger (``salary:staging``) that scores every request of its model after the answer is sent."""
    canary: str | None = None
    """A challenger and its share (``salary:staging=10%``) that answers that share of its model's requests."""
    canary_max_error_rate: float | None = bounded(None, 0, 1, flag="--canary-max-error-rate")
    """Stop the canary when more than this share (0-1) of its last answers failed; None: no such guard."""
    canary_max_p99_ms: float | None = bounded(None, 0, 3_600_000, flag="--canary-max-p99-ms")
    """Stop the canary when the p99 latency of its last answers passes this; None: no such guard."""
    canary_min_requests: int = bounded(50, 1, 1_000_000)
    """Answers the guard needs before it judges (it looks at the last max(this, 100))."""

    def __post_init__(self):
        if not self.models:
            raise ConfigError("give at least one model to serve, e.g. salary:production")
        refs = [BundleRef.parse(text) for text in self.models]
        names = [ref.name for ref in refs]
        if len(set(names)) != len(names):
            raise ConfigError(f"each model name may be served once; got {', '.join(self.models)}")
        if self.source is not None:
            check_source_url(self.source)
        if self.source is not None and any(ref.alias for ref in refs):
            raise ConfigError(f"a model that follows {self.source} is named by its name (salary), or pinned (salary@3): "
                              f"the topic says which version is latest, so {', '.join(self.models)} names an alias too many")
        check_fields(self)
        if self.grpc_port == self.port != 0:
            raise ConfigError(f"--grpc-port and --port are both {self.port}; give gRPC a port of its own")
        if self.shadow is not None:
            self._check_challenger(refs, self.shadow, "--shadow")
        if self.canary is not None:
            ref, _ = parse_canary(self.canary)
            self._check_challenger(refs, str(ref), "--canary")
            if self.shadow is not None and BundleRef.parse(self.shadow).name == ref.name:
                raise ConfigError(f"--shadow and --canary both challenge {ref.name}; run one experiment at a time")
        if self.log_to is not None:
            check_log_url(self.log_to)
        if self.log_key is not None and not self.log_key.strip():
            raise ConfigError("--log-key is empty; name the request field that keys each row, e.g. listing_id")
        if self.token is not None and not self.token.strip():
            raise ConfigError("the API token is empty; give a non-empty --token or leave it out")

    def _check_challenger(self, refs: list[BundleRef], text: str, flag: str) -> None:
        ref = BundleRef.parse(text)
        if ref.name not in {served.name for served in refs}:
            raise ConfigError(f"{flag} {text} is not a version of a served model ({', '.join(self.models)})")
        if self.source is not None:
            raise ConfigError(f"{flag} follows a registry alias; it cannot be used with --from {self.source}")
        if text in self.models or str(ref) in self.models:
            raise ConfigError(f"{flag} {text} is the reference already served; name another version to compare with")

    @property
    def refs(self) -> tuple[BundleRef, ...]:
        """The parsed model references."""
        return tuple(BundleRef.parse(text) for text in self.models)
