"""Open a Source from a URL, by scheme, without the core knowing which adapter provides it.

Packages declare the sources they offer as entry points in the
``mldeploy.sources`` group: the entry's name is a URL scheme, its value a
callable ``open(url, name, *, pin=None) -> Source``. mldeploy's stream adapter
declares ``kafka`` and ``local``; another package can add ``s3`` the same way.
So the API server follows a Kafka topic through the core's protocol, and
never imports the stream adapter.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from urllib.parse import urlsplit

from mldeploy.errors import ConfigError
from mldeploy.serving.source import Source

__all__ = ["SOURCE_GROUP", "check_source_url", "open_source", "source_schemes"]

SOURCE_GROUP = "mldeploy.sources"


def source_schemes() -> list[str]:
    """Return the URL schemes an installed package offers a source for, sorted."""
    return sorted({entry.name for entry in entry_points(group=SOURCE_GROUP)})


def check_source_url(url: str) -> None:
    """Raise ConfigError naming the schemes on offer unless an installed package offers a source for ``url``."""
    _entry(url)


def open_source(url: str, name: str, *, pin: int | None = None) -> Source:
    """Return a Source following model ``name`` at ``url`` (``kafka://HOST:PORT/TOPIC``, ``local:///FOLDER/TOPIC``, …).

    ConfigError names the schemes on offer when none matches.
    """
    entry = _entry(url)
    source = entry.load()(url, name, pin=pin)
    if not isinstance(source, Source):
        raise ConfigError(f"the {entry.name}:// source ({entry.value}) returned {type(source).__name__}, not a Source")
    return source


def _entry(url: str):
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    found = [entry for entry in entry_points(group=SOURCE_GROUP) if entry.name == scheme]
    if not found:
        offered = ", ".join(f"{known}://" for known in source_schemes()) or "none (is mldeploy installed?)"
        raise ConfigError(f'"{url}" names no source of model versions mldeploy knows; schemes on offer: {offered}')
    return found[0]
