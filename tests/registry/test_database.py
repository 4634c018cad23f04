"""A registry folder this user cannot write is opened read-only: listed and read, never changed.

Root ignores permission bits, so as root the reading part runs with the effective
user switched to ``nobody``: the kernel then really refuses every write. Everything
the reads import is imported first, as root, because ``nobody`` cannot read the
interpreter's installation under /root. As any other user the folder's modes
already bind, and the tests run as that user.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from _raw_sql import run_sql
from mldeploy.bundle import Bundle
from mldeploy.errors import RegistryError
from mldeploy.registry import Registry, open_registry

pytestmark = pytest.mark.timeout(60)

NOBODY = 65534


@contextmanager
def as_nobody() -> Iterator[None]:
    """As root, act as ``nobody`` (whom the folder's modes bind); as anyone else, stay: the modes bind already."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder nobody may enter and read (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="mldeploy-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def freeze(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def test_a_read_only_registry_folder_is_listed_and_read(shared_folder: Path, small_bundle):
    folder = shared_folder / "registry"
    with Registry(root=folder) as registry:
        ref = registry.register(small_bundle)
        registry.set_alias(ref, "production")
        expected = Bundle.from_archive(registry.archive(ref)).digest  # also imports what unpacking needs
    freeze(folder)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.rglob("*"))
    with as_nobody(), open_registry(str(folder)) as registry:
        assert registry.read_only
        assert [m.name for m in registry.models()] == ["salary"] and registry.aliases("salary") == {"production": 1}
        bundle = registry.get("salary:production")  # unpacked into a temporary folder: the cache is not writable
        assert bundle.digest == expected and not bundle.path.is_relative_to(folder)
        assert registry.changes(since=0).changes[0].kind == "version"
        with pytest.raises(RegistryError, match="is open read-only .*changing it needs a writable registry folder"):
            registry.set_alias(ref, "staging")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.rglob("*")) == before  # not a byte written


def test_an_older_read_only_registry_works_without_its_newer_tables(shared_folder: Path, small_bundle):
    folder = shared_folder / "registry"
    with Registry(root=folder) as registry:
        registry.register(small_bundle)
    run_sql(f"sqlite:///{folder / 'registry.db'}", "DROP TABLE changes")
    freeze(folder)
    with as_nobody(), open_registry(folder) as registry:
        assert registry.resolve("salary").version == 1
        with pytest.raises(RegistryError, match="was made before the change feed; open it once with write access"):
            registry.changes()
    with pytest.raises(RegistryError, match="there is no registry at"), as_nobody():
        open_registry(shared_folder / "missing")
