"""The stored archive is checked before it is unpacked or exported, and a failed unpack is never kept."""

from __future__ import annotations

import pytest

from _raw_sql import run_sql
from mldeploy.bundle import Bundle
from mldeploy.errors import BundleError
from mldeploy.registry import Registry
from mldeploy.registry.store import Store

pytestmark = pytest.mark.timeout(60)


def cache_entries(root) -> list[str]:
    folder = root / "cache" / "salary"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_damaged_database_row_is_reported_as_damaged_and_retry_works_once_fixed(registry_url: str, tmp_path, small_bundle):
    root = tmp_path / "root"
    with Registry(registry_url, root=root) as registry:
        ref = registry.register(small_bundle)
        good = registry.archive(ref)
        digest = registry.record(ref).archive_digest
        damaged = bytearray(good)
        damaged[len(damaged) // 2] ^= 0xFF
        run_sql(registry_url, "UPDATE archives SET data = :data WHERE digest = :digest", data=bytes(damaged), digest=digest)
        for call in (lambda: registry.get(ref), lambda: registry.archive(ref)):
            with pytest.raises(BundleError) as refused:
                call()
            message = str(refused.value)
            assert message.startswith("the registry's copy of salary@1 is damaged (digest sha256:")
            assert f"expected {digest[:23]}…" in message and "cache" not in message
        assert cache_entries(root) == []  # nothing unpacked, nothing kept
        run_sql(registry_url, "UPDATE archives SET data = :data WHERE digest = :digest", data=good, digest=digest)
        assert registry.get(ref).digest == Bundle.from_archive(registry.archive(ref)).digest
        assert len(cache_entries(root)) == 1


def test_an_archive_that_cannot_be_unpacked_leaves_nothing_in_the_cache(registry_url: str, tmp_path):
    with Store(registry_url) as store:  # stored with its true digest, but not a bundle archive at all
        store.add_version("salary", lambda v: ({"task": "regression", "version": v}, b"not a gzip tar"))
    root = tmp_path / "root"
    with Registry(registry_url, root=root) as registry:
        for _ in range(2):  # the retry meets the same archive, not a half-unpacked cache entry
            with pytest.raises(BundleError, match="salary@1 in the registry cannot be unpacked: bundle archive is truncated"):
                registry.get("salary@1")
        assert cache_entries(root) == []


def test_a_tampered_cache_entry_is_named_as_such(tmp_path, small_bundle):
    with Registry(root=tmp_path / "r") as registry:
        ref = registry.register(small_bundle)
        cached = registry.get(ref)
        (cached.path / "schema.json").write_text("{}")
        with pytest.raises(BundleError, match=r"the cached copy of salary@1 fails its check \(.*digest mismatch"):
            registry.get(ref)
