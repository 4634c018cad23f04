"""Several worker processes on one HTTP port and one gRPC port, and a graceful SIGTERM that lets in-flight requests finish."""

import threading
from pathlib import Path

import httpx
import orjson
import pytest

import _services
from _api_data import records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # starts and signals server processes


def _workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def _all_workers_ready(server) -> bool:
    # Each fresh connection may reach either worker: ten 200s in a row mean both have loaded.
    return all(httpx.get(server.url + "/v2/health/ready", timeout=5).status_code == 200 for _ in range(10))


def test_two_workers_serve_one_port_and_sigterm_lets_an_in_flight_request_finish(served_registry, new_rows, capsys):
    with _services.api_server("--registry", served_registry, "serve", "salary:production", "--workers", "2",
                              "--grpc-port", "0", "--log-level", "info") as server:
        workers = _workers(server.process.pid)
        assert len(workers) == 2
        _services.wait_until(lambda: _all_workers_ready(server) or 1 / 0, 120, "both workers")
        grpc_port = int(server.grpc.rsplit(":", 1)[1])
        assert all(_listens(pid, grpc_port) for pid in workers)  # SO_REUSEPORT: the kernel spreads gRPC connections too
        _check_grpc_answers(server, new_rows)
        with capsys.disabled():
            print(f"\nworker memory (RSS): {', '.join(f'{_services.rss_mib(pid):.0f} MiB' for pid in workers)}")
        body = orjson.dumps(records(new_rows.head(5)))
        release, answer = threading.Event(), {}

        def slow_body():
            yield body[:10]
            release.wait(60)  # the request is in flight, its body half sent, while SIGTERM arrives
            yield body[10:]

        def send():
            answer["response"] = httpx.post(server.url + "/predict/salary", content=slow_body(),
                                            headers={"content-type": "application/json", "content-length": str(len(body))}, timeout=60)

        sender = threading.Thread(target=send)
        sender.start()
        _services.wait_until(lambda: _open_connections(workers) or 1 / 0, 30, "the request's connection")
        server.process.terminate()
        _services.wait_until(lambda: "Waiting for connections to close" in _read_stderr(server) or 1 / 0, 30, "graceful shutdown")
        release.set()
        sender.join(60)
        assert answer["response"].status_code == 200
        assert answer["response"].json()["model_version"] == 1
        assert server.process.wait(60) == 0


def _check_grpc_answers(server, new_rows) -> None:
    from mldeploy.api import Client

    for _ in range(4):  # fresh channels, so connections reach both workers
        with Client(server.grpc, "salary", protocol="grpc") as client:
            assert client.infer(records(new_rows.head(2))).version == 1


def _listens(pid: int, port: int) -> bool:
    """True if process ``pid`` holds a listening TCP socket on ``port`` (grpc listens on IPv4-mapped IPv6)."""
    inodes = _socket_inodes([pid])
    listening = [line.split() for table in ("tcp", "tcp6") for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]]
    return any(fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port and fields[9] in inodes for fields in listening)


_SEEN: list[str] = []


def _read_stderr(server) -> str:
    """Everything the server wrote to stderr so far (raw reads: a text wrapper would hold lines back from select)."""
    import os
    import select

    fd = server.process.stderr.fileno()
    while select.select([fd], [], [], 0.05)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        _SEEN.append(chunk.decode(errors="replace"))
    return "".join(_SEEN)


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _open_connections(workers: list[int]) -> bool:
    """True once a worker holds an established TCP connection (the request reached the server)."""
    inodes = _socket_inodes(workers)
    established = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return any(fields[3] == "01" and fields[9] in inodes for fields in established)


def test_one_worker_stops_on_sigterm_with_exit_code_0(served_registry):
    with _services.api_server("--registry", served_registry, "serve", "salary:production") as server:
        server.process.terminate()
        assert server.process.wait(60) == 0
