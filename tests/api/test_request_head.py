"""Request heads (request line and headers) are bounded in size and in time, on a real server on 127.0.0.1.

A 200 MB header was once read over 80 s into 400 MB, and 4,000 connections holding half a header
were kept for ever. The server here runs with a 16 KiB head limit and a 1 s head timeout.
"""

import socket

import httpx
import orjson
import pytest

import _services
from _api_data import records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # starts a server and waits out its header timeouts

_MAX_HEAD = 16 * 1024
_WAIT_S = 60  # a socket timeout far beyond the 1 s limit: a connection still open then was kept


@pytest.fixture(scope="module")
def bounded(served_registry):
    with _services.api_server("--registry", served_registry, "serve", "salary:production",
                              "--max-header-bytes", str(_MAX_HEAD), "--header-timeout", "1") as running:
        yield running


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=_WAIT_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_a_head_over_the_limit_answers_431_in_json_and_closes(bounded):
    with _connect(bounded) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (_MAX_HEAD + 1000))
        answer = _read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ") and b"connection: close" in head
    assert orjson.loads(body) == {"type": "HeadTooLargeError", "error": f"the request line and headers pass {_MAX_HEAD} "
                                  "bytes; send shorter headers (or raise the server's --max-header-bytes)"}


def test_a_huge_header_is_cut_off_without_the_server_holding_it(bounded):
    before = _services.rss_mib(bounded.process.pid)
    sent, chunk = 0, b"a" * (256 * 1024)
    with _connect(bounded) as sock:
        try:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: ")
            while sent < 200 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 200 * 1024 * 1024  # the server closed the connection long before the header ended
    assert _services.rss_mib(bounded.process.pid) - before < 20  # and never held what was sent
    assert httpx.get(bounded.url + "/v2/health/live", timeout=30).status_code == 200


@pytest.mark.parametrize("sent", [b"", b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-slow: "])
def test_a_connection_that_does_not_finish_its_head_is_closed(bounded, sent):
    with _connect(bounded) as sock:
        sock.sendall(sent)
        assert _read_all(sock) == b""  # closed by the server, nothing answered


def test_a_kept_alive_connection_that_begins_a_head_and_idles_is_closed(bounded):
    with _connect(bounded) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"live":true}'):  # the answer may come in more than one read
            first += sock.recv(65536) or pytest.fail(f"the connection closed after {first!r}")
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost")  # then nothing more
        assert _read_all(sock) == b""


def test_requests_with_headers_under_the_limit_are_answered_one_after_another(bounded, new_rows):
    body = orjson.dumps(records(new_rows.head(3)))
    with httpx.Client(base_url=bounded.url, timeout=30) as client:  # one kept-alive connection
        for _ in range(3):
            answer = client.post("/predict/salary", content=body,
                                 headers={"content-type": "application/json", "x-note": "n" * (_MAX_HEAD // 2)})
            assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
