import multiprocessing

import pytest

from mldeploy.bundle import Bundle, BundleRef
from mldeploy.errors import AliasConflictError, BundleError, ConfigError, NotFoundError, RegistryError
from mldeploy.registry import Registry

import _models

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry(request, tmp_path):
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_database")
    with Registry(url, root=tmp_path / "registry") as opened:
        yield opened


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    pipeline, features = _models.strict_pipeline()  # quick to fit and compile; the registry sees only its files
    directory = tmp_path_factory.mktemp("bundle") / "salary"
    return Bundle.from_pipeline(pipeline, features, name="salary", metrics={"mae": 2.0}, directory=directory)


def test_register_numbers_versions_and_records_lineage(registry, bundle):
    assert [registry.register(bundle) for _ in range(3)] == [BundleRef("salary", v) for v in (1, 2, 3)]
    assert registry.lineage("salary@3") == [BundleRef("salary", 3), BundleRef("salary", 2), BundleRef("salary", 1)]
    records = registry.versions("salary")
    assert [r.parent_version for r in records] == [None, 1, 2]
    assert records[0].manifest["metrics"] == {"mae": 2.0}


def test_get_returns_a_verified_numbered_bundle_that_predicts(registry, bundle):
    pipeline, features = _models.strict_pipeline()
    registry.register(bundle)
    loaded = registry.get("salary@1")
    assert loaded.version == 1 and loaded.manifest.parent is None
    assert (loaded.load_pipeline().predict(features) == pipeline.predict(features)).all()


def test_aliases_move_and_keep_history(registry, bundle):
    registry.register(bundle)
    registry.register(bundle)
    registry.set_alias("salary@1", "production")
    registry.set_alias("salary@2", "production")
    assert registry.resolve("salary:production") == BundleRef("salary", 2)
    assert [(c.previous_version, c.version) for c in registry.alias_history("salary", "production")] == [(None, 1), (1, 2)]
    assert registry.resolve("salary") == BundleRef("salary", 2)


def test_aliased_version_cannot_be_deleted_without_force(registry, bundle):
    registry.register(bundle)
    registry.set_alias("salary@1", "production")
    with pytest.raises(AliasConflictError, match="production"):
        registry.delete("salary@1")
    assert registry.resolve("salary:production").version == 1
    registry.delete("salary@1", force=True)
    with pytest.raises(NotFoundError):
        registry.resolve("salary:production")


def test_unknown_references_say_what_exists(registry, bundle):
    registry.register(bundle)
    with pytest.raises(NotFoundError, match='no version 7 of "salary"; versions are 1'):
        registry.get("salary@7")
    with pytest.raises(NotFoundError, match="salary"):
        registry.get("wages@1")
    with pytest.raises(ConfigError, match="not a valid alias"):
        registry.set_alias("salary@1", "no spaces")
    with pytest.raises(ConfigError, match="is not a model reference"):
        registry.get("salary@@1")


def test_archive_of_a_version_opens_as_the_same_bundle(registry, bundle):
    ref = registry.register(bundle)
    again = Bundle.from_archive(registry.archive(ref))
    assert again.digest == registry.get(ref).digest


def test_registry_under_a_file_is_refused_and_creates_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RegistryError, match="writable"):
        Registry(root=blocker / "registry")
    assert blocker.read_text() == "not a folder"


def _register_many(root: str, bundle_folder: str, count: int) -> list[int]:
    bundle = Bundle.open(bundle_folder)
    with Registry(root=root) as registry:
        return [registry.register(bundle).version for _ in range(count)]


@pytest.mark.slow  # starts processes that race
def test_processes_registering_at_once_get_distinct_versions(tmp_path, bundle):
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        results = pool.starmap(_register_many, [(str(tmp_path / "shared"), str(bundle.path), 4)] * 3)
    assert sorted(v for versions in results for v in versions) == list(range(1, 13))


def test_signed_versions_stay_readable_after_the_registry_numbers_them(tmp_path, bundle):
    from mldeploy.bundle.signing import generate_keypair

    private, public = generate_keypair()
    signed = bundle.copy_to(tmp_path / "signed").sign(private)
    with Registry(root=tmp_path / "r", public_key=public) as registry:
        refs = [registry.register(signed, sign_with=private) for _ in range(3)]
        assert [registry.get(ref).manifest.parent for ref in refs] == [None, "salary@1", "salary@2"]


def test_a_tampered_bundle_is_refused_at_registration(tmp_path, bundle):
    tampered = bundle.copy_to(tmp_path / "tampered")
    (tampered.path / "profile.json").write_text("{}")
    with Registry(root=tmp_path / "r") as registry:
        with pytest.raises(BundleError, match="digest mismatch for profile.json"):
            registry.register(tampered)
        assert registry.models() == []


def test_a_manifest_name_that_is_a_path_is_refused(tmp_path, bundle):
    import json

    from mldeploy.bundle import storage

    moved = bundle.copy_to(tmp_path / "moved")
    manifest = json.loads((moved.path / storage.MANIFEST).read_text())
    manifest["name"] = "../../escaped"
    (moved.path / storage.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="bad name"):
        Bundle.open(moved.path)
