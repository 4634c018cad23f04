"""Fixtures of the conformance kit that own a service: the API adapter's servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import _services


class ApiServers:
    """Servers started for the contract, one per (registry, references), kept for the module and stopped after it.

    A server takes tens of seconds to start here (skops, scikit-learn, the compiled form's
    checks), so every test of a module shares one per registry; each deployment first waits
    until it serves the version the registry names.
    """

    def __init__(self):
        self._servers: dict[tuple[str, tuple[str, ...]], _services.ApiServer] = {}

    def get(self, registry_url: str, refs: tuple[str, ...]) -> _services.ApiServer:
        key = (registry_url, refs)
        if key not in self._servers:
            server = _services.start_api_server("--registry", registry_url, "serve", *refs, "--poll-interval", "0.05",
                                                "--grpc-port", "0")
            self._servers[key] = server
            _services.wait_ready(server)
        return self._servers[key]

    def close(self) -> None:
        for server in self._servers.values():
            _services.stop_process(server.process)


@pytest.fixture(scope="module")
def api_servers() -> Iterator[ApiServers]:
    """The API adapter's servers: started on first use, stopped at the end of the module."""
    servers = ApiServers()
    try:
        yield servers
    finally:
        servers.close()
