"""The store's database for integration tests, on both backends: `store_url` is a fresh SQLite file or a
fresh PostgreSQL database on 127.0.0.1:5432 (user postgres, trust; scripts/ensure-postgres.sh sets it
up), dropped afterwards. An unreachable PostgreSQL fails the test: it never skips."""

from __future__ import annotations

import os
import secrets
from collections.abc import Generator, Iterator

import pytest

PG_ADMIN = os.environ.get("FAQBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def _admin():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL does not answer at {PG_ADMIN} ({exc}). Run scripts/ensure-postgres.sh first "
            "(it installs and starts it with trust auth for 127.0.0.1); these tests never skip.",
            pytrace=False,
        )


def sqlalchemy_pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{dbname}"


def _pg_database() -> Generator[str, None, None]:
    name = f"faqbot_test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy_pg_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> Iterator[str]:
    """The URL of an empty database: SQLite (a file in tmp_path) or PostgreSQL (a fresh database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faqbot.db'}"
    else:
        yield from _pg_database()
