"""Start the real services tests need, with the project's own scripts.

Each service binds 127.0.0.1 on a port the OS picks, and is ready when a
real client call succeeds, never after a fixed sleep.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
POSTGRES_SH = REPO / "scripts" / "postgres.sh"
KAFKA_SH = REPO / "scripts" / "kafka.sh"
READY_TIMEOUT_S = 30.0


class ServiceError(RuntimeError):
    """A test service could not be installed, started or reached."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(*args: str, timeout_s: float) -> None:
    """Run one of the project's scripts; raise ServiceError with its stderr if it fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"{' '.join(args)} took more than {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(args)} exited with {done.returncode}:\n{done.stderr.strip()}")


def wait_until(check: Callable[[], object], timeout_s: float, what: str, fatal: type[Exception] | tuple = ()) -> None:
    """Call ``check`` until it returns without raising; ServiceError with the last error at the deadline.

    An exception of a ``fatal`` class ends the wait at once (the service died).
    """
    deadline = time.monotonic() + timeout_s
    delay_s = 0.02
    while True:
        try:
            check()
            return
        except fatal:
            raise
        except Exception as exc:  # any failure means "not ready yet" until the deadline
            if time.monotonic() >= deadline:
                raise ServiceError(f"{what} not ready after {timeout_s:.0f} s: {exc}") from exc
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.5)


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster started by scripts/postgres.sh."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's ``postgres`` database."""
        return self.database_url("postgres")

    def database_url(self, dbname: str) -> str:
        """SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self) -> psycopg.Connection:
        """Open an autocommit admin connection (CREATE DATABASE needs one)."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
            autocommit=True, connect_timeout=5,
        )


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Install if needed, start, wait for a real connection, and stop at the end."""
    # Not under pytest's basetemp: its parents are mode 0700, and the server runs as user postgres.
    data_dir = Path(tempfile.mkdtemp(prefix="mldeploy-pg-"))
    server = PostgresServer(data_dir, free_port())
    try:
        run_script(str(POSTGRES_SH), "install", timeout_s=600)
        run_script(str(POSTGRES_SH), "start", str(data_dir), str(server.port), timeout_s=60)
        try:
            wait_until(lambda: server.connect().close(), READY_TIMEOUT_S, f"PostgreSQL on 127.0.0.1:{server.port}")
            yield server
        finally:
            run_script(str(POSTGRES_SH), "stop", str(data_dir), timeout_s=60)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def temporary_database(server: PostgresServer) -> Iterator[str]:
    """Create a database with a unique name, yield its URL, drop it afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.database_url(name)
    finally:
        with server.connect() as conn:
            # FORCE ends sessions a test left open (a pool not disposed, a killed worker).
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class KafkaBroker:
    """A single-node KRaft broker run by scripts/kafka.sh; stop() and start() keep its data."""

    data_dir: Path
    port: int

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    def url(self, topic: str) -> str:
        """An mldeploy ``kafka://`` URL for one topic on this broker."""
        return f"kafka://{self.bootstrap}/{topic}"

    def start(self) -> None:
        """Start the broker (again) and wait until it answers a metadata request."""
        run_script(str(KAFKA_SH), "start", str(self.data_dir), str(self.port), timeout_s=120)
        wait_until(self._answers, READY_TIMEOUT_S * 2, f"Kafka on {self.bootstrap}")

    def stop(self) -> None:
        """Stop the broker cleanly; its topics stay in data_dir."""
        run_script(str(KAFKA_SH), "stop", str(self.data_dir), timeout_s=60)

    def _answers(self) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        metadata = admin.list_topics(timeout=5)
        if not metadata.brokers:
            raise ServiceError("the broker answered without listing itself")


@contextmanager
def kafka_broker() -> Iterator[KafkaBroker]:
    """Install if needed, start one broker on a free port, and stop it at the end."""
    data_dir = Path(tempfile.mkdtemp(prefix="mldeploy-kafka-"))
    broker = KafkaBroker(data_dir, free_port())
    try:
        run_script(str(KAFKA_SH), "install", timeout_s=600)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class ApiServer:
    """A running ``mldeploy serve`` process and the URL it listens on."""

    process: subprocess.Popen
    url: str
    token: str | None = None
    grpc: str | None = None
    """host:port of its gRPC service, when started with --grpc-port."""

    @property
    def headers(self) -> dict:
        """The Authorization header when the server has a token."""
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs):
        """GET ``path`` with httpx (a fresh connection), with the token if any."""
        import httpx

        return httpx.get(self.url + path, timeout=10, headers=self.headers | kwargs.pop("headers", {}), **kwargs)

    def post(self, path: str, **kwargs):
        """POST to ``path`` with httpx, with the token if any."""
        import httpx

        return httpx.post(self.url + path, timeout=30, headers=self.headers | kwargs.pop("headers", {}), **kwargs)


def _read_url(process: subprocess.Popen, timeout_s: float) -> tuple[str, str | None]:
    """Read the server's stdout until it prints the URL it listens on (and its gRPC address, if any)."""
    import re
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline, seen = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen += line
            match = re.search(r"on (http://\S+) ", line)
            if match:
                grpc = re.search(r"gRPC on (\S+)", line)
                return match.group(1), grpc.group(1) if grpc else None
        elif process.poll() is not None:
            break
    raise ServiceError(f"mldeploy serve printed no URL (exit {process.poll()}): {seen}{process.stderr.read() if process.poll() is not None else ''}")


def start_api_server(*args: str, env: dict | None = None) -> ApiServer:
    """Start ``mldeploy serve ARGS --port 0`` on 127.0.0.1 and return once it prints its URL (not yet ready)."""
    import os
    import sys

    command = [sys.executable, "-c", "from mldeploy.cli import main; main()", *args, "--port", "0"]
    environment = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO / "src")), "PYTHONUNBUFFERED": "1",
                   "COLUMNS": "300", **(env or {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        url, grpc = _read_url(process, READY_TIMEOUT_S)
        return ApiServer(process, url, (env or {}).get("MLDEPLOY_API_TOKEN"), grpc)
    except BaseException:
        stop_process(process)
        raise


def wait_ready(server: ApiServer, path: str = "/v2/health/ready", timeout_s: float = 120.0) -> None:
    """Wait until ``path`` answers 200; fail at once if the server exits.

    Loading a model imports skops and scikit-learn and checks the compiled form: tens of seconds on a busy machine.
    """
    import httpx

    wait_until(lambda: _exited(server.process) or httpx.get(server.url + path, timeout=2).raise_for_status(), timeout_s,
               f"mldeploy serve at {server.url}", fatal=ServiceError)


@contextmanager
def api_server(*args: str, env: dict | None = None, ready: bool = True, timeout_s: float = 120.0) -> Iterator[ApiServer]:
    """Run ``mldeploy serve ARGS --port 0``; yield once /v2/health/ready (or /live) answers 200; SIGTERM it afterwards."""
    server = start_api_server(*args, env=env)
    try:
        wait_ready(server, "/v2/health/ready" if ready else "/v2/health/live", timeout_s)
        yield server
    finally:
        stop_process(server.process)


def _exited(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        raise ServiceError(f"mldeploy serve exited with {process.returncode}: {process.stderr.read()[-3000:]}")


def stop_process(process: subprocess.Popen, timeout_s: float = 20.0) -> int:
    """SIGTERM the process, wait for it (SIGKILL past ``timeout_s``), return its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return process.returncode


def rss_mib(pid: int) -> float:
    """The resident memory of process ``pid``, in MiB (from /proc)."""
    from pathlib import Path

    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
