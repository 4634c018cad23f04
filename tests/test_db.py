"""URL handling and driver-error translation of the registry's database layer."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from mldeploy.errors import BackendError, ConfigError, MldeployError, RegistryError
from mldeploy._db import error_for, is_conflict, normalise_url

pytestmark = pytest.mark.timeout(10)

SQLITE = normalise_url("sqlite:////tmp/registry.db")
POSTGRES = normalise_url("postgresql://postgres:secret@db.example:6543/registry")


def dbapi_error_classes() -> list[type[sqlalchemy.exc.DBAPIError]]:
    found, todo = [], [sqlalchemy.exc.DBAPIError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("url", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("cls", dbapi_error_classes(), ids=lambda cls: cls.__name__)
def test_every_driver_error_is_translated(url, cls):
    # Whatever the driver error class, the message keeps only the driver's first line and never the password.
    translated = error_for(url, cls("SELECT 1", {}, Exception("first line\nsecond line")))
    assert isinstance(translated, MldeployError)
    assert "first line" in str(translated) and "second line" not in str(translated)
    assert "secret" not in str(translated)


def test_unreachable_postgres_is_a_backend_error_and_other_failures_registry_errors():
    refused = sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))
    assert type(error_for(POSTGRES, refused)) is BackendError
    assert "db.example:6543/registry" in str(error_for(POSTGRES, refused))
    constraint = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("violates"))
    assert type(error_for(POSTGRES, constraint)) is RegistryError
    assert type(error_for(SQLITE, refused)) is RegistryError


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///r.db", "sqlite"),
    ],
)
def test_urls_are_normalised(given, driver):
    assert normalise_url(given).drivername == driver


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "not a url"])
def test_unsupported_urls_are_config_errors(bad):
    with pytest.raises(ConfigError, match="use sqlite:///PATH or postgresql://"):
        normalise_url(bad)


def real_error(url: str, statement: str, timeout_s: float = 0) -> sqlalchemy.exc.DBAPIError:
    engine = sqlalchemy.create_engine(url, connect_args={"timeout": timeout_s})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    except sqlalchemy.exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


def test_sqlite_collisions_are_conflicts_and_other_failures_are_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    setup = sqlalchemy.create_engine(url)
    with setup.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert is_conflict(real_error(url, "INSERT INTO t VALUES (1)"))
    with setup.connect() as holder:
        holder.exec_driver_sql("INSERT INTO t VALUES (2)")  # holds the write lock until rollback
        assert is_conflict(real_error(url, "INSERT INTO t VALUES (3)"))
    setup.dispose()
    assert not is_conflict(real_error(url, "SELECT * FROM missing"))
