"""open_registry: every form of location, and reading never creates a registry; bundle_path: explicit paths only."""

from __future__ import annotations

from pathlib import Path

import pytest

import mldeploy
from mldeploy.errors import ConfigError, NotFoundError, RegistryError
from mldeploy.registry import Registry, bundle_path, open_registry

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def filled(tmp_path, small_bundle) -> Path:
    folder = tmp_path / "filled"
    with Registry(root=folder) as registry:
        registry.register(small_bundle)
    return folder


def forms(folder: Path) -> list:
    return [str(folder), folder, f"file://{folder}", f"sqlite:///{folder / 'registry.db'}"]


def test_every_form_of_a_folder_opens_the_same_registry(filled, monkeypatch, tmp_path):
    for location in forms(filled):
        with open_registry(location) as registry:
            assert registry.resolve("salary").version == 1, location
    monkeypatch.setenv("MLDEPLOY_REGISTRY", str(filled))
    with open_registry() as registry:
        assert registry.resolve("salary").version == 1
    monkeypatch.delenv("MLDEPLOY_REGISTRY")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegistryError, match=r"there is no registry at \.mldeploy"):
        open_registry()


def test_a_registry_instance_is_returned_as_is(filled):
    with Registry(root=filled) as registry:
        assert open_registry(registry) is registry


@pytest.mark.postgres
def test_a_database_url_opens_postgres_and_an_empty_database_is_no_registry(postgres_database: str, small_bundle):
    with pytest.raises(RegistryError) as missing:
        open_registry(postgres_database)
    assert str(missing.value).startswith("there is no registry in PostgreSQL at 127.0.0.1:")
    assert str(missing.value).endswith("register a model there first, or check the registry location")
    with open_registry(postgres_database, create=True) as registry:
        registry.register(small_bundle)
    with open_registry(postgres_database) as registry:
        assert registry.resolve("salary").version == 1


def test_reading_a_mistyped_location_creates_nothing(tmp_path):
    for location in (tmp_path / "typo", f"sqlite:///{tmp_path / 'typo2' / 'registry.db'}", f"file://{tmp_path / 'typo3'}"):
        with pytest.raises(RegistryError) as missing:
            open_registry(location)
        assert "there is no registry at" in str(missing.value) and "register a model there first" in str(missing.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "registry.db").write_bytes(b"")  # a file is there, a registry is not
    with pytest.raises(RegistryError, match="there is no registry in SQLite file"):
        open_registry(empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"] and (empty / "registry.db").stat().st_size == 0
    with open_registry(tmp_path / "new", create=True) as registry:
        assert registry.models() == []


@pytest.mark.parametrize("bad", ["", "   ", 42, "file://elsewhere/x"])
def test_a_location_that_is_none_of_the_forms_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        open_registry(bad)


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("salary", None), ("salary@3", None), ("salary:production", None), ("salary.v2", None),
        ("./salary", Path("salary")), ("../x/salary", Path("../x/salary")), ("/abs/salary", Path("/abs/salary")),
        ("file:///abs/salary", Path("/abs/salary")), ("models/salary", Path("models/salary")),
        (".", Path(".")), (Path("salary"), Path("salary")),
    ],
)
def test_only_explicit_paths_are_paths(ref, path):
    assert bundle_path(ref) == path


def test_a_folder_named_like_a_model_does_not_hide_the_registry_entry(filled, tmp_path, monkeypatch, small_bundle):
    monkeypatch.chdir(tmp_path)
    other = small_bundle.copy_to(tmp_path / "salary")  # a bundle folder that happens to share the model's name
    assert mldeploy.load("salary", registry=filled).ref.version == 1  # the registry's salary@1
    assert mldeploy.load("./salary").ref.version is None  # the folder, asked for explicitly
    assert mldeploy.load(other.path).ref.version is None
    (tmp_path / "salary.v2").mkdir()
    with pytest.raises(NotFoundError, match=r'no model named "salary.v2"; .*; to load the file or folder salary.v2, write ./salary.v2'):
        mldeploy.load("salary.v2", registry=filled)
