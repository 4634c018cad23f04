"""Record signatures: a signed version can't be renumbered in the database and served as another."""

from __future__ import annotations

import pytest

import mldeploy
from _raw_sql import run_sql
from mldeploy.bundle.signing import generate_keypair
from mldeploy.errors import BundleError
from mldeploy.registry import Registry, open_registry

pytestmark = pytest.mark.timeout(60)

PRIVATE, PUBLIC = generate_keypair()
OTHER_PRIVATE, OTHER_PUBLIC = generate_keypair()


@pytest.fixture(scope="module")
def signed(small_bundle, tmp_path_factory):
    return small_bundle.copy_to(tmp_path_factory.mktemp("signed") / "b").sign(PRIVATE)


def test_a_signed_record_is_verified_on_get(any_registry: Registry, signed):
    ref = any_registry.register(signed, sign_with=PRIVATE)
    assert any_registry.record(ref).record_signature is not None
    assert any_registry.requiring(PUBLIC).get(ref).version == 1
    with pytest.raises(BundleError, match="record signature does not match salary@"):
        any_registry.requiring(OTHER_PUBLIC).get(ref)


def test_an_unsigned_record_is_refused_when_a_key_is_set(any_registry: Registry, signed):
    ref = any_registry.register(signed)  # the bundle is signed, the registry's record of it is not
    with pytest.raises(BundleError, match="record of salary@1 is not signed, and a public key is set"):
        any_registry.requiring(PUBLIC).get(ref)
    assert any_registry.get(ref).version == 1  # without a key it is served


def test_a_renumbered_signed_version_is_refused(registry_url: str, tmp_path, signed):
    with Registry(registry_url, root=tmp_path / "root", public_key=PUBLIC) as registry:
        registry.register(signed, sign_with=PRIVATE)
        registry.register(signed, sign_with=PRIVATE)
    # Someone with write access to the database serves v2's content as v3, signature row and all.
    run_sql(registry_url, "UPDATE models SET last_version = 3 WHERE name = 'salary'")
    run_sql(registry_url, "UPDATE versions SET version = 3 WHERE name = 'salary' AND version = 2")
    run_sql(registry_url, "UPDATE record_signatures SET version = 3 WHERE name = 'salary' AND version = 2")
    with open_registry(registry_url, public_key=PUBLIC) as registry:
        with pytest.raises(BundleError) as refused:
            registry.get("salary@3")
        assert str(refused.value) == (
            "the registry's record signature does not match salary@3: another key signed it, or its name, "
            "version or digest was changed in the database after signing; refusing it"
        )
        with pytest.raises(BundleError, match="record signature does not match salary@"):
            mldeploy.load("salary@3", registry=registry_url, public_key=PUBLIC)
    # Without a key the archive still says it is v2: refused too, as renumbered.
    with Registry(registry_url, root=tmp_path / "other-cache") as registry:
        with pytest.raises(BundleError, match="copy of salary@3 is salary@2: the version was renumbered"):
            registry.get("salary@3")


def test_a_signature_left_behind_by_renumbering_leaves_the_record_unsigned(registry_url: str, tmp_path, signed):
    with Registry(registry_url, root=tmp_path / "root") as registry:
        registry.register(signed, sign_with=PRIVATE)
    run_sql(registry_url, "UPDATE versions SET version = 7 WHERE name = 'salary' AND version = 1")
    with open_registry(registry_url, public_key=PUBLIC) as registry:
        with pytest.raises(BundleError, match="record of salary@7 is not signed"):
            registry.get("salary@7")


def test_load_honours_the_public_key_whatever_the_registry_form(tmp_path, small_bundle):
    folder = tmp_path / "registry"
    with Registry(root=folder) as registry:
        registry.register(small_bundle)  # unsigned
        for source in (registry, str(folder), folder, f"sqlite:///{folder / 'registry.db'}"):
            with pytest.raises(BundleError, match="not signed"):
                mldeploy.load("salary@1", registry=source, public_key=PUBLIC)
        assert mldeploy.load("salary@1", registry=registry).ref.version == 1
        assert registry.public_key is None  # the caller's key did not stick to its registry
