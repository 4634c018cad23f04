"""A disk cache of what tests make slowly (fitted pipelines, built bundles), keyed by the code and libraries that made it.

An entry is a folder under ``.cache/tests/<key>/<name>``. The key hashes every
file of ``src/mldeploy``, the test helpers that build entries, the Python
version and the versions of the libraries a fit or a build depends on, so an
entry is only ever reused by the code that would make it again. A folder is
built in a temporary sibling and renamed into place, which is atomic: parallel
workers (pytest-xdist) that race build it twice and keep one, and a reader
never sees half an entry. Pipelines are stored with skops and loaded under the
project's own trust list; nothing is pickled.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / ".cache" / "tests"
SOURCES = (REPO / "src" / "mldeploy",)
HELPERS = ("_cache.py", "_models.py", "_bundles.py", "_batch_inputs.py", "custom_features.py")
"""The test modules whose code decides what an entry holds."""
LIBRARIES = ("scikit-learn", "scipy", "numpy", "pandas", "skops", "onnx", "onnxruntime", "numba", "pyarrow")
STALE_AFTER_S = 24 * 3600.0
"""Entries of other keys (older code) are deleted once this old."""


@functools.lru_cache(maxsize=None)
def cache_key() -> str:
    """Return the hash of the code and library versions every entry of this process is made by."""
    digest = hashlib.sha256(f"python {sys.version}\n".encode())
    for library in LIBRARIES:
        try:
            digest.update(f"{library} {metadata.version(library)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent\n".encode())
    files = [p for root in SOURCES for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [Path(__file__).with_name(name) for name in HELPERS]
    for path in sorted(files):
        digest.update(f"{path.relative_to(REPO)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def cached_folder(name: str, build: Callable[[Path], None]) -> Path:
    """Return the cache folder ``name``, made by ``build(folder)`` into an empty folder if this key has none yet.

    ``name`` must say everything ``build`` depends on beyond the key (the model, its arguments).
    Callers copy out of the folder and never write into it.
    """
    final = ROOT / cache_key() / name
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _delete_stale_keys()
    building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        build(building)
        os.rename(building, final)
    except OSError:
        if not final.is_dir():  # not a lost race with another worker: a real failure
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def _delete_stale_keys() -> None:
    """Delete the entries of other keys not used for a day (the code or a library changed since)."""
    for folder in ROOT.iterdir():
        if folder.name != cache_key() and folder.is_dir() and time.time() - folder.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(folder, ignore_errors=True)


def save_pipeline(pipeline, folder: Path) -> None:
    """Write ``pipeline`` into ``folder`` with skops."""
    import skops.io

    skops.io.dump(pipeline, folder / "pipeline.skops")


def load_pipeline(folder: Path, trusted: tuple[str, ...] = ()):
    """Load the pipeline :func:`save_pipeline` wrote, trusting only the project's safe default types and ``trusted``."""
    import skops.io

    from mldeploy.bundle.trust import check_trusted

    data = (folder / "pipeline.skops").read_bytes()
    return skops.io.loads(data, trusted=check_trusted(skops.io.get_untrusted_types(data=data), trusted))


def cached_pipeline(name: str, fit: Callable[[], object], trusted: tuple[str, ...] = ()):
    """Return the pipeline ``fit()`` returns, fitted once per cache key and loaded from disk after that.

    ``trusted`` names the pipeline's own types (test code such as ``custom_features``) that loading may build.
    """
    return load_pipeline(cached_folder(name, lambda folder: save_pipeline(fit(), folder)), trusted)


def cached_bundle(name: str, build: Callable[[Path], object], directory: Path):
    """Return a copy in ``directory`` of the bundle ``build(folder)`` writes into ``folder``, built once per cache key."""
    from mldeploy.bundle import Bundle

    source = cached_folder(name, lambda folder: build(folder / "bundle"))
    shutil.copytree(source / "bundle", directory)
    return Bundle.open(directory)
