"""Who may call the staff and editors' routes: bearer tokens, stored as hashes only.

Accounts and tokens belong to the HTTP layer, not to the knowledge store: they live in the same
database (one URL to configure) but in their own table, created here.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine

ROLES = ("admin", "editor", "staff")

metadata = MetaData()

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("label", String(120), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Bearer tokens by role. The token itself is shown once when made and never stored."""

    def __init__(self, engine: Engine):
        self.engine = engine
        metadata.create_all(engine)

    def add(self, token: str, role: str, label: str = "") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self.engine.begin() as c:
            c.execute(
                insert(tokens).values(
                    token_hash=hash_token(token), role=role, label=label, created_at=dt.datetime.now(dt.UTC)
                )
            )

    def role_for(self, token: str) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(select(tokens.c.role).where(tokens.c.token_hash == hash_token(token))).first()
        return row.role if row else None
