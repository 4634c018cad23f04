"""The change feed: what changed after a cursor, recorded with the change, and waiting for the next one."""

from __future__ import annotations

import threading
import time

import pytest

from _raw_sql import run_sql
from mldeploy.errors import AliasConflictError, ConfigError
from mldeploy.registry import Registry
from mldeploy.registry.store import Store

pytestmark = pytest.mark.timeout(60)


def build(data: bytes = b"archive"):
    return lambda version: ({"task": "regression", "version": version}, data)


def kinds(feed) -> list[tuple]:
    return [(c.name, c.kind, c.version, c.alias) for c in feed.changes]


def test_every_change_is_in_the_feed_in_order(registry_url: str):
    with Store(registry_url) as store:
        start = store.changes()
        assert start.changes == [] and start.cursor == 0
        store.add_version("salary", build(b"1"))
        store.add_version("salary", build(b"2"))
        store.add_version("churn", build(b"3"))
        store.set_alias("salary", "production", 1)
        store.set_alias("salary", "production", 2)
        store.set_alias("salary", "production", 2)  # no move, no entry
        store.set_alias("salary", "canary", 2)
        store.remove_alias("salary", "canary")
        store.set_alias("salary", "staging", 1)
        store.delete_version("salary", 1, force=True)
        feed = store.changes(since=start.cursor)
        assert kinds(feed) == [
            ("salary", "version", 1, None), ("salary", "version", 2, None), ("churn", "version", 1, None),
            ("salary", "alias", 1, "production"), ("salary", "alias", 2, "production"),
            ("salary", "alias", 2, "canary"), ("salary", "alias-removed", None, "canary"),
            ("salary", "alias", 1, "staging"), ("salary", "alias-removed", None, "staging"),
            ("salary", "deleted", 1, None),
        ]
        cursors = [c.cursor for c in feed.changes]
        assert cursors == sorted(cursors) and feed.cursor == cursors[-1]
        assert all(c.at.tzinfo is not None for c in feed.changes)
        assert store.changes(since=feed.cursor).changes == []
        assert store.changes().cursor == feed.cursor  # no history without a cursor


def test_the_feed_filters_by_name_and_pages(registry_url: str):
    with Store(registry_url) as store:
        for i in range(5):
            store.add_version("salary" if i % 2 == 0 else "churn", build(f"{i}".encode()))
        salary = store.changes(since=0, name="salary")
        assert [(c.name, c.version) for c in salary.changes] == [("salary", 1), ("salary", 2), ("salary", 3)]
        assert salary.cursor == store.changes().cursor  # filtered entries are skipped, not re-read
        first = store.changes(since=0, limit=2)
        second = store.changes(since=first.cursor, limit=2)
        third = store.changes(since=second.cursor, limit=2)
        assert [len(f.changes) for f in (first, second, third)] == [2, 2, 1]
        assert third.cursor == salary.cursor
        assert store.changes(since=salary.cursor + 100).cursor == salary.cursor  # ahead: the current cursor back


def test_a_refused_change_leaves_no_entry(registry_url: str):
    with Store(registry_url) as store:
        store.add_version("salary", build())
        store.set_alias("salary", "production", 1)
        cursor = store.changes().cursor
        with pytest.raises(AliasConflictError):
            store.delete_version("salary", 1)
        with pytest.raises(RuntimeError):
            store.add_version("salary", lambda version: (_ for _ in ()).throw(RuntimeError("no build")))
        assert store.changes(since=cursor).changes == []


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_a_bad_cursor_is_refused(bad, tmp_path):
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store, pytest.raises(ConfigError, match="change cursor"):
        store.changes(since=bad)


def test_a_registry_made_before_the_feed_gains_it_when_opened(registry_url: str):
    with Store(registry_url) as store:
        store.add_version("salary", build())
    run_sql(registry_url, "DROP TABLE changes")
    run_sql(registry_url, "DROP TABLE record_signatures")
    with Store(registry_url, create=False) as store:  # an older registry is still a registry
        assert store.get("salary", 1).record_signature is None
        cursor = store.changes().cursor
        store.add_version("salary", build(b"two"))
        assert kinds(store.changes(since=cursor)) == [("salary", "version", 2, None)]


def test_wait_for_change_wakes_on_a_change_made_elsewhere(registry_url: str):
    with Store(registry_url) as follower, Store(registry_url) as writer:
        cursor = follower.changes().cursor
        started = time.monotonic()
        assert follower.wait_for_change(0.3, since=cursor) is False
        assert time.monotonic() - started >= 0.3
        threading.Timer(0.2, lambda: writer.add_version("salary", build())).start()
        assert follower.wait_for_change(20, since=cursor) is True
        assert kinds(follower.changes(since=cursor)) == [("salary", "version", 1, None)]
        assert follower.wait_for_change(0, since=cursor) is True  # already past the cursor: at once


@pytest.mark.postgres
def test_postgres_notifies_followers_that_are_not_polling(postgres_database: str):
    with Store(postgres_database) as follower, Store(postgres_database) as writer:
        assert follower.wait_for_change(0.1) is False  # starts listening; nothing yet
        writer.add_version("salary", build())  # notified while the follower is not waiting: kept for it
        assert follower.wait_for_change(10) is True
        assert follower.wait_for_change(0.1) is False  # one wake-up per burst, not one per change


def test_registry_changes_follow_the_public_calls(any_registry: Registry, small_bundle):
    start = any_registry.changes()
    ref = any_registry.register(small_bundle)
    any_registry.set_alias(ref, "production")
    deleted = any_registry.delete(ref, force=True)
    assert deleted.removed_aliases == ("production",) and str(deleted) == "salary@1"
    feed = any_registry.changes(since=start.cursor, name="salary")
    assert kinds(feed) == [
        ("salary", "version", 1, None), ("salary", "alias", 1, "production"),
        ("salary", "alias-removed", None, "production"), ("salary", "deleted", 1, None),
    ]


def test_latest_is_not_an_alias(any_registry: Registry, small_bundle):
    any_registry.register(small_bundle)
    with pytest.raises(ConfigError, match='"latest" is reserved: a name alone already means its latest version'):
        any_registry.set_alias("salary@1", "latest")
    assert any_registry.aliases("salary") == {}


@pytest.mark.postgres
def test_a_follower_polling_during_concurrent_writes_misses_nothing(postgres_database: str):
    # Cursors must become visible in order, or a follower past cursor N would never see a later-committed N-1.
    with Store(postgres_database) as setup:
        for name in ("a", "b", "c"):
            setup.add_version(name, build(name.encode()))
            setup.add_version(name, build(name.encode() * 2))
    seen, done = [], threading.Event()

    def follow():
        with Store(postgres_database) as follower:
            cursor = 0
            while not done.is_set() or follower.changes(since=cursor).changes:
                feed = follower.changes(since=cursor)
                seen.extend(c.cursor for c in feed.changes)
                cursor = feed.cursor

    def move(name: str):
        with Store(postgres_database) as writer:
            for i in range(20):
                writer.set_alias(name, "production", 1 + i % 2)

    follower = threading.Thread(target=follow)
    writers = [threading.Thread(target=move, args=(name,)) for name in ("a", "b", "c")]
    for thread in [follower, *writers]:
        thread.start()
    for thread in writers:
        thread.join(timeout=50)
    done.set()
    follower.join(timeout=10)
    with Store(postgres_database) as store:
        everything = [c.cursor for c in store.changes(since=0).changes]
    assert len(everything) == 6 + 60 and seen == everything
