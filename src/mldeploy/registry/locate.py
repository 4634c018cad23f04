"""Turn a location into a registry, and tell a bundle path from a registry reference.

``open_registry`` is the one way every adapter and the command line open a
registry. It reads one environment variable, ``MLDEPLOY_REGISTRY``, when no
location is given: a deliberate exception to "library code never reads
os.environ" (issue 8 asks that every entry point find the same registry by it).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from mldeploy.errors import ConfigError
from mldeploy.registry.registry import DEFAULT_ROOT, Registry

__all__ = ["ENVIRONMENT_VARIABLE", "bundle_path", "open_registry"]

ENVIRONMENT_VARIABLE = "MLDEPLOY_REGISTRY"
"""Names the registry (a folder or a database URL) when no location is given."""


def open_registry(location: Registry | str | os.PathLike | None = None, public_key=None, create: bool = False) -> Registry:
    """Open the registry at ``location``.

    ``location`` is a Registry (returned as is, or as a view that also requires
    ``public_key``'s signatures), a folder (str or Path; sqlite inside), a
    ``file:`` URL of a folder, a database URL (``sqlite:///PATH``,
    ``postgresql://USER@HOST/DB``), or None: ``$MLDEPLOY_REGISTRY``, else ``./.mldeploy``.
    Read paths keep ``create=False``: a registry that does not exist is then a
    RegistryError saying there is none, never a new empty one. Example::

        with open_registry("postgresql://ml@db/registry") as registry:
            bundle = registry.get("salary:production")
    """
    if isinstance(location, Registry):
        return location.requiring(public_key) if public_key is not None else location
    if location is None:
        location = os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_ROOT
    if isinstance(location, os.PathLike):
        return Registry(root=Path(location), public_key=public_key, create=create)
    if not isinstance(location, str) or not location.strip():
        raise ConfigError(f"a registry location is a folder or a database URL, got {location!r}")
    text = location.strip()
    if text.startswith("file:"):
        return Registry(root=_file_url_path(text), public_key=public_key, create=create)
    if "://" in text:
        return Registry(url=text, public_key=public_key, create=create)
    return Registry(root=Path(text).expanduser(), public_key=public_key, create=create)


def bundle_path(ref) -> Path | None:
    """Return the path ``ref`` names, or None when it names a registry entry.

    A path is explicit: a Path, or text that holds a path separator or starts
    with ``.``, ``~`` or ``file:``. Model names start with a letter and hold no
    separator, so ``salary`` always means the registry's entry even when a
    folder named ``salary`` sits in the working directory; write ``./salary``
    for the folder.
    """
    if isinstance(ref, os.PathLike):
        return Path(ref)
    if not isinstance(ref, str):
        return None
    text = ref.strip()
    if text.startswith("file:"):
        return _file_url_path(text)
    if text.startswith((".", "~")) or "/" in text or os.sep in text:
        return Path(text).expanduser()
    return None


def _file_url_path(text: str) -> Path:
    parsed = urlparse(text)
    if parsed.netloc not in ("", "localhost") or not parsed.path:
        raise ConfigError(f"{text!r} is not a local file: URL; write file:///ABSOLUTE/PATH or file:RELATIVE/PATH")
    return Path(unquote(parsed.path)).expanduser()
