"""Where a LiveModel learns of versions: the ModelSource protocol, a source that follows a registry,
and sources opened by URL scheme.

A source only names versions and fetches them; every check before a swap is
the LiveModel's, so a registry alias, a Kafka topic and a local log are
verified alike.

Packages declare the sources they offer as entry points in the
``mldeploy.sources`` group: the entry's name is a URL scheme, its value a
callable ``open(url, name, *, pin=None) -> ModelSource``. mldeploy's stream adapter
declares ``kafka`` and ``local``; another package can add ``s3`` the same way.
So the API server follows a Kafka topic through the core's protocol, and
never imports the stream adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from mldeploy._urls import masked_url
from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import ConfigError

if TYPE_CHECKING:  # the bundle module brings pandas: `serve` checks a source URL long before it opens a bundle
    from mldeploy.bundle import Bundle

__all__ = ["SOURCE_GROUP", "Candidate", "ModelSource", "RegistrySource", "check_source_url", "model_source_schemes", "open_model_source"]


@dataclass(frozen=True)
class Candidate:
    """A version a source offers; ``fetch`` does the I/O, off the request path."""

    ref: BundleRef
    """``name@version`` offered."""
    digest: str | None
    """The bundle's manifest digest if the source knows it (the LiveModel skips what it already serves)."""
    fetch: Callable[[], Bundle]
    """Return the bundle opened by ``Bundle.open``, ``Bundle.from_archive`` or ``Registry.get`` (which check every
    file against the manifest; the LiveModel then checks the manifest's signature); raise BundleError when it is
    damaged, BackendError when it can't be reached."""


@runtime_checkable
class ModelSource(Protocol):
    """Names the version a LiveModel should serve, as it changes."""

    name: str
    """The model name the source follows."""

    def describe(self) -> str:
        """Say what is followed, for logs and errors (``registry alias salary:production``)."""

    def next_candidate(self, timeout_s: float) -> Candidate | None:
        """Wait up to ``timeout_s`` for the version the source names now; None when nothing new came.

        The first call returns the current version at once, if there is one.
        """

    def close(self) -> None:
        """Release connections; ``next_candidate`` is not called after this."""


class RegistrySource:
    """Follow ``name:alias`` (or ``name``, the latest version, or a fixed ``name@version``) in a registry.

    Polls the registry's change feed, one cheap query every ``poll_interval_s``
    (PostgreSQL also wakes it at once by ``LISTEN``), so any number of processes
    can follow one shared registry.

    Example::

        live = LiveModel(RegistrySource("postgresql://db/registry", "salary:production"))
    """

    def __init__(self, registry, ref: str | BundleRef, poll_interval_s: float = 0.5):
        from mldeploy.registry import Registry, open_registry

        self.ref = BundleRef.parse(ref) if isinstance(ref, str) else ref
        self.name = self.ref.name
        self._owned = not isinstance(registry, Registry)
        self._registry = open_registry(registry) if self._owned else registry
        self._poll_interval_s = poll_interval_s
        self._cursor: int | None = None
        self._offered: tuple[int, str] | None = None

    def describe(self) -> str:
        """Say which reference in which registry is followed."""
        return f"registry reference {self.ref} in {masked_url(self._registry.url)}"

    def next_candidate(self, timeout_s: float) -> Candidate | None:
        """Return the version the reference names now, when it differs from the last one offered."""
        deadline = time.monotonic() + timeout_s
        if self._cursor is None:
            self._cursor = self._registry.changes().cursor
            return self._offer()
        while True:
            feed = self._registry.changes(since=self._cursor, name=self.name)
            self._cursor = feed.cursor
            if feed.changes:
                candidate = self._offer()
                if candidate is not None:
                    return candidate
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._registry.wait_for_change(min(self._poll_interval_s, remaining), since=self._cursor)

    def close(self) -> None:
        """Close the registry if this source opened it."""
        if self._owned:
            self._registry.close()

    def _offer(self) -> Candidate | None:
        from mldeploy.errors import NotFoundError

        try:
            record = self._registry.record(self.ref)
        except NotFoundError:
            if self.ref.alias is None or not self._registry.versions(self.name):
                raise  # a version or a model that does not exist: there is nothing to wait for
            return None  # the alias does not exist yet: keep serving what serves
        if self._offered == (record.version, record.digest):
            return None
        self._offered = (record.version, record.digest)
        ref = BundleRef(record.name, record.version)
        return Candidate(ref, record.digest, lambda: self._registry.get(ref))


SOURCE_GROUP = "mldeploy.sources"


def model_source_schemes() -> list[str]:
    """Return the URL schemes an installed package offers a source for, sorted."""
    return sorted({entry.name for entry in entry_points(group=SOURCE_GROUP)})


def check_source_url(url: str) -> None:
    """Raise ConfigError naming the schemes on offer unless an installed package offers a source for ``url``."""
    _entry(url)


def open_model_source(url: str, name: str, *, pin: int | None = None) -> ModelSource:
    """Return a ModelSource following model ``name`` at ``url`` (``kafka://HOST:PORT/TOPIC``, ``local:///FOLDER/TOPIC``, …).

    ConfigError names the schemes on offer when none matches.
    """
    entry = _entry(url)
    source = entry.load()(url, name, pin=pin)
    if not isinstance(source, ModelSource):
        raise ConfigError(f"the {entry.name}:// source ({entry.value}) returned {type(source).__name__}, not a ModelSource")
    return source


def _entry(url: str):
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    found = [entry for entry in entry_points(group=SOURCE_GROUP) if entry.name == scheme]
    if not found:
        offered = ", ".join(f"{known}://" for known in model_source_schemes()) or "none (is mldeploy installed?)"
        raise ConfigError(f'"{masked_url(url)}" names no source of model versions mldeploy knows; schemes on offer: {offered}')
    return found[0]
