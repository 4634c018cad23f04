"""Change a registry's database behind its back, as someone with write access to it could."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def run_sql(url: str, statement: str, **params) -> None:
    """Change the registry's database behind its back, as someone with write access to it could."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()
