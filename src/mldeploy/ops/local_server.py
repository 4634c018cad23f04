"""`mldeploy serve` as a child process on free loopback ports: what the careers site's API mode and `compare` call.

The server runs in its own process, as in production, so an answer crosses
a real socket; the parent reads the URL the server prints once bound and
waits for readiness (never for a fixed time).
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from mldeploy._extras import require
from mldeploy.errors import BackendError

__all__ = ["LocalApiServer", "start_api_server"]

_LISTENING = re.compile(r"on (http://\S+) .*?(?:gRPC on (\S+))?$")


@dataclass
class LocalApiServer:
    """A running `mldeploy serve` child: its URL, its gRPC address (or None) and the process."""

    url: str
    grpc_address: str | None
    process: subprocess.Popen
    stderr: IO[str] | None = field(default=None, repr=False)
    """The child's standard error, kept in a temporary file so a failure can quote it."""

    def stderr_tail(self, chars: int = 2_000) -> str:
        """The end of what the server wrote to standard error, or "" when it wrote nothing."""
        return _tail(self.stderr, chars)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server (SIGTERM lets in-flight requests finish), killing it if it does not stop in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.stderr is not None:
            self.stderr.close()

    def __enter__(self) -> "LocalApiServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_api_server(registry_url: str, ref: str, grpc: bool = False, poll_interval_s: float = 0.2,
                     ready_timeout_s: float = 180.0) -> LocalApiServer:
    """Start `mldeploy serve REF` on a free port (and a free gRPC port) and return it once it answers ready."""
    command = [sys.executable, "-c", "from mldeploy.cli import main; main()",
               "serve", ref, "--port", "0", "--poll-interval", str(poll_interval_s)]
    if grpc:
        command += ["--grpc-port", "0"]
    stderr = tempfile.TemporaryFile(mode="w+")
    # The registry URL goes by environment, not argv: a password in it would show in every `ps` listing.
    environment = os.environ | {"MLDEPLOY_REGISTRY": registry_url}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment)
    line = _first_line(process, ready_timeout_s)
    match = _LISTENING.search(line)
    if match is None:
        process.kill()
        process.wait()
        why = _tail(stderr, 2_000)
        stderr.close()
        raise BackendError(f"mldeploy serve {ref} did not start: {line or 'no output'}" + (f"\n{why}" if why else ""))
    server = LocalApiServer(match.group(1), match.group(2), process, stderr)
    try:
        _wait_ready(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: LocalApiServer, timeout_s: float) -> None:
    httpx = require("httpx")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            why = server.stderr_tail()
            raise BackendError(f"mldeploy serve at {server.url} exited with code {server.process.returncode} while loading"
                               + (f":\n{why}" if why else ""))
        try:
            if httpx.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BackendError(f"the model API server at {server.url} was not ready within {timeout_s:.0f} s")


def _first_line(process: subprocess.Popen, timeout_s: float) -> str:
    """The server's first line (where it listens), or "" if none comes in time; later lines are read and dropped.

    A thread reads, so a child that hangs before printing cannot hang the caller, and the pipe
    never fills while the server runs.
    """
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        first = True
        for line in process.stdout:
            if first:
                lines.put(line.strip())
                first = False
        if first:  # the server exited without a word
            lines.put("")

    threading.Thread(target=read, daemon=True, name="mldeploy-serve-output").start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        return ""


def _tail(file: IO[str] | None, chars: int) -> str:
    if file is None or file.closed:
        return ""
    file.flush()
    file.seek(0)
    return file.read()[-chars:].strip()
