"""load(): turn a reference, a folder, an archive or a Bundle into a ready Model."""

from __future__ import annotations

from pathlib import Path

from mldeploy.bundle import Bundle
from mldeploy.serving.model import Model

__all__ = ["find_bundle", "load"]


def load(ref, registry=None, trusted=(), public_key=None, allow_version_mismatch: bool = False, use_compiled: bool = True) -> Model:
    """Load a model from a registry reference, a bundle folder, an archive file or a Bundle.

    ``ref`` is ``name@version``, ``name:alias``, ``name`` (latest), or a path.
    ``registry`` is a Registry, a folder or a URL (default: the sqlite registry in ./.mldeploy).
    ``trusted`` names extra types (e.g. your own transformer classes) the pipeline may hold.

    Example::

        model = load("salary:production")
        model.infer([{"years_experience": 4, ...}]).values
    """
    bundle = find_bundle(ref, registry, public_key)
    return Model(bundle, trusted=trusted, allow_version_mismatch=allow_version_mismatch, use_compiled=use_compiled)


def find_bundle(ref, registry=None, public_key=None) -> Bundle:
    """Return the verified bundle a reference names, from a path or a registry."""
    if isinstance(ref, Bundle):
        return Bundle.open(ref.path, public_key=public_key) if public_key is not None else ref
    path = Path(ref) if isinstance(ref, (str, Path)) else None
    if path is not None and path.is_dir():
        return Bundle.open(path, public_key=public_key)
    if path is not None and path.is_file():
        return Bundle.from_archive(path.read_bytes(), public_key=public_key)
    from mldeploy.registry import Registry

    if isinstance(registry, Registry):
        return registry.get(ref)
    with Registry(registry, public_key=public_key) as opened:
        return opened.get(ref)
