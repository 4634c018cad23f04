"""The registry store, run against SQLite and a real PostgreSQL alike."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, func, select

from _services import free_port, wait_until
from mldeploy.errors import AliasConflictError, BackendError, NotFoundError, RegistryError
from mldeploy.registry.store import Store
from mldeploy.registry.tables import archives, models, versions

pytestmark = pytest.mark.timeout(60)

WORKERS = 4
VERSIONS_EACH = 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty registry: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry' / 'registry.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def store(store_url: str):
    with Store(store_url) as opened:
        yield opened


def bundle(data: bytes = b"archive", task: str = "regression", **extra):
    """Return a build callback that makes a manifest for the version it is given."""
    return lambda version: ({"task": task, "version": version, **extra}, data)


def count_rows(url: str, table) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def test_versions_are_allocated_from_one_in_order(store: Store):
    assert [store.add_version("salary", bundle(f"v{i}".encode())) for i in range(3)] == [1, 2, 3]
    assert store.add_version("churn", bundle(task="classification")) == 1
    records = store.versions("salary")
    assert [r.version for r in records] == [1, 2, 3]
    assert records[1].manifest == {"task": "regression", "version": 2}
    assert store.latest("salary").version == 3
    assert store.names() == ["churn", "salary"]
    assert [(m.name, m.latest_version, m.version_count) for m in store.models()] == [("churn", 1, 1), ("salary", 3, 3)]


def test_record_fields_round_trip(store: Store):
    store.add_version("salary", bundle(b"first"))
    store.add_version("salary", bundle(b"second!", parent_version=1, digest="sha256:bundle"))
    first, second = store.get("salary", 1), store.get("salary", 2)
    assert (first.task, first.parent_version, first.size_bytes) == ("regression", None, 5)
    assert first.digest == first.archive_digest and first.digest.startswith("sha256:")
    assert (second.parent_version, second.digest, second.size_bytes) == (1, "sha256:bundle", 7)
    assert second.created_at.tzinfo == timezone.utc and second.created_at >= first.created_at
    assert store.archive("salary", 2) == b"second!"


def test_identical_archives_are_stored_once(store: Store, store_url: str):
    for name in ("salary", "salary", "copy"):
        store.add_version(name, bundle(b"same bytes"))
    store.add_version("salary", bundle(b"other bytes"))
    assert count_rows(store_url, archives) == 2
    assert store.get("salary", 1).archive_digest == store.get("copy", 1).archive_digest
    assert store.archive("copy", 1) == b"same bytes"


def test_failed_build_stores_nothing(store: Store, store_url: str):
    def broken(version: int):
        raise RuntimeError(f"cannot build version {version}")

    with pytest.raises(RuntimeError, match="cannot build version 1"):
        store.add_version("salary", broken)
    with pytest.raises(RegistryError, match='has no "task"'):
        store.add_version("salary", lambda v: ({"version": v}, b"x"))
    assert store.names() == []
    assert count_rows(store_url, models) == count_rows(store_url, archives) == 0
    assert store.add_version("salary", bundle()) == 1


def test_a_build_blocks_no_writer_and_a_number_taken_meanwhile_is_built_again(store: Store, store_url: str):
    built = []

    def slow_build(version: int):
        built.append(version)
        if len(built) == 1:
            # While this build runs, another writer registers the same name and moves an alias. Inside
            # the write transaction this would wait for the build (SQLite: for its whole busy timeout).
            with Store(store_url) as other:
                assert other.add_version("salary", bundle(b"other")) == 1
                other.set_alias("salary", "production", 1)
        return bundle(f"mine {version}".encode())(version)

    assert store.add_version("salary", slow_build) == 2
    assert built == [1, 2]  # version 1 was taken meanwhile: built again as 2
    assert store.archive("salary", 1) == b"other" and store.archive("salary", 2) == b"mine 2"
    assert store.get("salary", 2).manifest["version"] == 2


def test_deleted_versions_are_never_reused(store: Store):
    store.add_version("salary", bundle(b"1"))
    store.add_version("salary", bundle(b"2"))
    store.delete_version("salary", 2)
    assert store.add_version("salary", bundle(b"3")) == 3
    assert [r.version for r in store.versions("salary")] == [1, 3]


def test_alias_moves_are_recorded(store: Store):
    for i in range(3):
        store.add_version("salary", bundle(f"v{i}".encode()))
    assert store.set_alias("salary", "production", 1) is None
    assert store.set_alias("salary", "production", 2) == 1
    assert store.set_alias("salary", "production", 2) == 2  # unchanged: no history entry
    store.set_alias("salary", "staging", 3)
    assert store.resolve_alias("salary", "production") == 2
    assert store.aliases("salary") == {"production": 2, "staging": 3}
    assert store.remove_alias("salary", "staging") == 3
    history = [(c.alias, c.previous_version, c.version) for c in store.alias_history("salary")]
    assert history == [("production", None, 1), ("production", 1, 2), ("staging", None, 3), ("staging", 3, None)]
    assert len(store.alias_history("salary", "production")) == 2
    assert all(c.changed_at.tzinfo == timezone.utc for c in store.alias_history("salary"))


def test_delete_is_refused_while_aliased_and_forced_removes_aliases(store: Store, store_url: str):
    store.add_version("salary", bundle(b"one"))
    store.add_version("salary", bundle(b"two"))
    store.set_alias("salary", "production", 2)
    store.set_alias("salary", "canary", 2)
    with pytest.raises(AliasConflictError) as refused:
        store.delete_version("salary", 2)
    assert str(refused.value) == (
        'version 2 of "salary" is what alias(es) canary, production point to; '
        "move them to another version first or delete with force=True"
    )
    assert [r.version for r in store.versions("salary")] == [1, 2]

    assert store.delete_version("salary", 2, force=True) == ["canary", "production"]
    assert store.aliases("salary") == {}
    assert [(c.alias, c.previous_version, c.version) for c in store.alias_history("salary")][-2:] == [
        ("canary", 2, None),
        ("production", 2, None),
    ]
    assert [r.version for r in store.versions("salary")] == [1]
    assert count_rows(store_url, archives) == 1  # b"two" had no other user


def test_not_found_messages_list_what_exists(store: Store):
    with pytest.raises(NotFoundError, match=r'^no model named "salary"; .* holds no models yet$'):
        store.versions("salary")
    for i in range(3):
        store.add_version("salary", bundle(f"v{i}".encode()))
    store.set_alias("salary", "staging", 1)
    cases = {
        lambda: store.get("salary", 9): 'no version 9 of "salary"; versions are 1, 2, 3',
        lambda: store.archive("salary", 9): 'no version 9 of "salary"; versions are 1, 2, 3',
        lambda: store.latest("churn"): 'no model named "churn"; models are salary',
        lambda: store.set_alias("salary", "production", 7): 'no version 7 of "salary"; versions are 1, 2, 3',
        lambda: store.resolve_alias("salary", "production"): 'no alias "production" of "salary"; aliases are staging',
        lambda: store.remove_alias("salary", "canary"): 'no alias "canary" of "salary"; aliases are staging',
        lambda: store.delete_version("salary", 4): 'no version 4 of "salary"; versions are 1, 2, 3',
    }
    for call, message in cases.items():
        with pytest.raises(NotFoundError) as missing:
            call()
        assert str(missing.value) == message


def test_unwritable_sqlite_folder_raises_registry_error_and_creates_nothing(tmp_path: Path):
    # chmod does not stop root, but nobody can create a folder beneath a regular file.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("keep me")
    target = blocker / "registry" / "registry.db"
    with pytest.raises(RegistryError) as refused:
        Store(f"sqlite:///{target}")
    message = str(refused.value)
    assert str(blocker / "registry") in message and "choose a writable registry folder" in message
    assert "\n" not in message
    assert isinstance(refused.value.__cause__, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
    assert blocker.read_text() == "keep me"


def test_file_that_is_not_a_database_raises_registry_error(tmp_path: Path):
    garbage = tmp_path / "registry.db"
    garbage.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(RegistryError) as refused:
        Store(f"sqlite:///{garbage}")
    assert str(refused.value) == (
        f"SQLite file {garbage}: file is not a database; check the file and choose a writable registry folder"
    )


@pytest.mark.timeout(15)
def test_postgres_down_raises_backend_error():
    port = free_port()  # nothing listens there
    with pytest.raises(BackendError) as down:
        Store(f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=3")
    message = str(down.value)
    assert f"PostgreSQL at 127.0.0.1:{port}/postgres" in message
    assert message.endswith("start the server or check the URL") and "\n" not in message
    assert down.value.__cause__ is not None


@pytest.mark.postgres
def test_store_reconnects_after_its_session_is_killed(postgres_database: str, postgres_url: str):
    with Store(postgres_database) as store:
        store.add_version("salary", bundle())
        dbname = postgres_database.rsplit("/", 1)[1]
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchone()[0]
        assert killed >= 1
        assert store.get("salary", 1).version == 1


@pytest.mark.postgres
def test_write_that_collides_with_another_writer_is_retried(postgres_database: str, postgres_url: str):
    with Store(postgres_database) as store:
        store.add_version("salary", bundle(b"one"))
        store.add_version("salary", bundle(b"two"))
        moved = []
        with psycopg.connect(postgres_database.replace("+psycopg", "")) as other:
            # Another writer creates the alias but has not committed: the store's INSERT must wait for it.
            other.execute("INSERT INTO aliases VALUES ('salary', 'production', 1, now())")
            mover = threading.Thread(target=lambda: moved.append(store.set_alias("salary", "production", 2)))
            mover.start()
            wait_until(lambda: _waiting_on_lock(postgres_url), 10, "the store blocked on the other writer")
            other.commit()  # the store's INSERT now fails with a unique violation and is retried
        mover.join(timeout=10)
    assert moved == [1]


def _waiting_on_lock(admin_url: str) -> None:
    with psycopg.connect(admin_url.replace("+psycopg", "")) as admin:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        if admin.execute(query).fetchone()[0] == 0:
            raise RuntimeError("no session is waiting on a lock yet")


def register_versions(url: str, worker: int, start, results) -> None:
    """Open the store and register VERSIONS_EACH versions as soon as every worker is ready."""
    try:
        with Store(url) as store:
            start.wait(timeout=30)
            got = []
            for i in range(VERSIONS_EACH):
                # i == 0 gives every worker the same archive, so dedupe races too.
                data = b"shared" if i == 0 else f"worker {worker} item {i}".encode()
                got.append(store.add_version("salary", bundle(data, worker=worker)))
        results.put((worker, got))
    except BaseException as exc:  # report it to the parent instead of dying silently
        results.put((worker, f"{type(exc).__name__}: {exc}"))


@pytest.mark.timeout(120)
@pytest.mark.slow  # starts processes that race
def test_concurrent_processes_get_distinct_versions(store_url: str):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=register_versions, args=(store_url, w, start, results)) for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    try:
        outcomes = dict(results.get(timeout=90) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    failures = {w: got for w, got in outcomes.items() if isinstance(got, str)}
    assert not failures
    allocated = sorted(v for got in outcomes.values() for v in got)
    assert allocated == list(range(1, WORKERS * VERSIONS_EACH + 1))
    with Store(store_url) as store:
        records = store.versions("salary")
    assert [r.version for r in records] == allocated
    assert count_rows(store_url, versions) == WORKERS * VERSIONS_EACH
    assert count_rows(store_url, archives) == 1 + WORKERS * (VERSIONS_EACH - 1)
    with Store(store_url) as store:
        feed = store.changes(since=0)
    assert sorted(c.version for c in feed.changes) == allocated and {c.kind for c in feed.changes} == {"version"}
