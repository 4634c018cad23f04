"""load(): turn a reference, a folder, an archive or a Bundle into a ready Model."""

from __future__ import annotations

from pathlib import Path

from mldeploy.bundle import Bundle
from mldeploy.errors import NotFoundError
from mldeploy.serving.model import Model

__all__ = ["find_bundle", "load"]


def load(ref, registry=None, trusted=(), public_key=None, allow_version_mismatch: bool = False, use_compiled: bool = True,
         threads: int | None = None) -> Model:
    """Load a model from a registry reference, a bundle folder, an archive file or a Bundle.

    ``ref`` is ``name@version``, ``name:alias``, ``name`` (latest), or an explicit path (``./folder``, an absolute path, ``file:``).
    ``registry`` is a Registry, a folder or a database URL (default: ``$MLDEPLOY_REGISTRY``, else ./.mldeploy);
    see :func:`mldeploy.registry.open_registry`. ``public_key`` is required of whatever the source.
    ``threads`` caps the threads one large prediction uses (see :class:`Model`).
    ``trusted`` names extra types (e.g. your own transformer classes) the pipeline may hold.

    Example::

        model = load("salary:production")
        model.infer([{"years_experience": 4, ...}]).values
    """
    bundle = find_bundle(ref, registry, public_key)
    return Model(bundle, trusted=trusted, allow_version_mismatch=allow_version_mismatch, use_compiled=use_compiled,
                 threads=threads)


def find_bundle(ref, registry=None, public_key=None) -> Bundle:
    """Return the verified bundle a reference names, from an explicit path or a registry."""
    from mldeploy.registry import Registry, bundle_path, open_registry

    if isinstance(ref, Bundle):
        return Bundle.open(ref.path, public_key=public_key) if public_key is not None else ref
    path = bundle_path(ref)  # only explicit paths: "salary" is the registry's, even beside a folder of that name
    if path is not None:
        if path.is_file():
            return Bundle.from_archive(path.read_bytes(), public_key=public_key)
        return Bundle.open(path, public_key=public_key)
    opened = open_registry(registry, public_key=public_key)
    try:
        return opened.get(ref)
    except NotFoundError as exc:
        if isinstance(ref, str) and Path(ref).exists():
            raise NotFoundError(f"{exc}; to load the file or folder {ref}, write ./{ref}") from exc
        raise
    finally:
        if not isinstance(registry, Registry):
            opened.close()
