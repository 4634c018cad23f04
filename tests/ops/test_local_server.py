"""The API server the demo, `compare` and the careers site start for themselves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mldeploy.ops.local_server import start_api_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # starts a server process


def test_the_registry_url_reaches_the_server_by_environment_never_by_its_command_line(salary_registry):
    """A password in the registry URL would show in every `ps` listing if it were an argument."""
    with start_api_server(salary_registry.url, "salary@1") as server:
        command_line = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        assert httpx.get(f"{server.url}/v2/models/salary/ready", timeout=30).status_code == 200
    assert not any(salary_registry.url.encode() in part for part in command_line), command_line
