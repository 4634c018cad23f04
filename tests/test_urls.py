"""URLs in messages show no password."""

import pytest
from sqlalchemy.engine import make_url

from mldeploy._urls import masked_url


@pytest.mark.parametrize("url, shown", [
    ("postgresql://user:secret@db:5432/x", "postgresql://user:***@db:5432/x"),
    ("postgresql+psycopg://user:p@ss@db/x", "postgresql+psycopg://user:***@db/x"),  # a raw @ in it
    ("kafka://user:secret@broker:9092/topic", "kafka://user:***@broker:9092/topic"),
    ("postgresql://user@db:5432/x", "postgresql://user@db:5432/x"),
    ("kafka://broker:9092/topic", "kafka://broker:9092/topic"),
    ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),
])
def test_a_password_is_masked_and_nothing_else_changes(url, shown):
    assert masked_url(url) == shown


def test_a_sqlalchemy_url_is_masked_too():
    assert masked_url(make_url("postgresql://user:secret@db/x")) == "postgresql://user:***@db/x"
