"""Mark every test by the services it starts, from the fixtures it uses, so none can go unmarked.

A test gets ``postgres`` or ``kafka`` when its fixture closure holds a fixture
that starts that service, or when a fixture parameter it runs with names the
service (``"postgresql"``, ``"stream-kafka"``: the convention for fixtures
that pick a backend by parameter and ask for the server with
``request.getfixturevalue``). It gets ``slow`` when it builds a virtual
environment or installs the careers page's JavaScript from npm. A service started by a test that still lacks its marker (asked
for by name inside a test body) fails that test, before the service starts
when it is the first to ask, so ``-m "not kafka"`` never starts a broker.

tests/conftest.py imports the hooks below; tests/test_markers.py holds them to it.
"""

from __future__ import annotations

import re

import pytest

SERVICE_FIXTURES = {"postgres_server": "postgres", "kafka_broker": "kafka"}
"""Fixture -> the marker of the service it starts; every fixture that reaches a service depends on one of these."""

SERVICE_WORDS = {"postgres": "postgres", "postgresql": "postgres", "kafka": "kafka"}
"""A word in a fixture parameter -> the marker of the service that parameter starts."""

SLOW_FIXTURES = {"venv_python": "slow", "ort_dist": "slow"}
"""Fixture -> ``slow``: a fresh virtual environment with the package installed, or onnxruntime-web installed
from npm with the careers site's servers behind it (minutes on a fresh clone)."""


def derived_markers(item: pytest.Item) -> set[str]:
    """Return the markers ``item`` needs: by the fixtures in its closure and by the fixture parameters it runs with."""
    names = set(getattr(item, "fixturenames", ()))
    markers = {marker for fixture, marker in (SERVICE_FIXTURES | SLOW_FIXTURES).items() if fixture in names}
    for value in fixture_params(item).values():
        markers |= {SERVICE_WORDS[word] for word in re.split(r"[^a-z0-9]+", str(value).lower()) if word in SERVICE_WORDS}
    return markers


def fixture_params(item: pytest.Item) -> dict[str, object]:
    """Return the parameters ``item`` gives fixtures (declared ``params`` or indirect), not its direct arguments."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    direct = set()
    for mark in item.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        argnames = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        indirect = mark.kwargs.get("indirect", False)
        direct |= {n for n in argnames if not (indirect is True or (isinstance(indirect, (list, tuple)) and n in indirect))}
    return {name: value for name, value in callspec.params.items() if name not in direct}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the markers each test's fixtures and parameters call for."""
    for item in items:
        for marker in sorted(derived_markers(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)


def check_marked(item: pytest.Item, fixtures: set[str]) -> None:
    """Fail ``item`` if one of ``fixtures`` starts a service whose marker it does not carry."""
    carried = {m.name for m in item.iter_markers()}
    for fixture in sorted(fixtures):
        marker = SERVICE_FIXTURES.get(fixture)
        if marker and marker not in carried:
            pytest.fail(f"{item.nodeid} uses {fixture} without the `{marker}` marker: ask for the fixture by argument, "
                        f"name the service in the fixture parameter that needs it, or mark the test "
                        f"@pytest.mark.{marker} (tests/_markers.py)", pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef, request) -> None:
    """Refuse to start a service for a test that lacks its marker (``-m "not kafka"`` must never start a broker)."""
    item = getattr(request, "_pyfuncitem", None)
    if item is not None and fixturedef.argname in SERVICE_FIXTURES:
        check_marked(item, {fixturedef.argname})


@pytest.fixture(autouse=True)
def _services_used_are_marked(request):
    """After each test, fail it if it reached an already running service without that service's marker."""
    yield
    check_marked(request.node, set(request.fixturenames))
