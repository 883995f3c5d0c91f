"""Who may call the staff and editors' routes: bearer tokens, stored as hashes only.

Accounts and tokens belong to the HTTP layer, not to the knowledge store: they live in the same
database (one URL to configure) but in their own table, created here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine

ROLES = ("admin", "editor", "staff")
# How long a valid token's role is remembered in the process before the database is asked again: a
# search or an edit then costs no database read and no thread hop for its token. A token deleted from
# the table stops working within this time on every replica; an unknown token is never remembered,
# so a new one works at once and a guessed one costs a lookup each time.
ROLE_CACHE_SECONDS = 10.0
ROLE_CACHE_SIZE = 1024

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

    def __init__(self, engine: Engine, clock=time.monotonic):
        self.engine = engine
        self.clock = clock
        self._roles: dict[str, tuple[str, float]] = {}  # token hash -> (role, remembered until)
        self._lock = threading.Lock()
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

    def cached_role(self, token: str) -> str | None:
        """The role of a token looked up less than ROLE_CACHE_SECONDS ago, else None (ask role_for)."""
        key = hash_token(token)
        with self._lock:
            held = self._roles.get(key)
            if held is None:
                return None
            if self.clock() >= held[1]:
                del self._roles[key]
                return None
            return held[0]

    def role_for(self, token: str) -> str | None:
        """The token's role from the database (None: unknown), remembered for ROLE_CACHE_SECONDS."""
        key = hash_token(token)
        with self.engine.connect() as c:
            row = c.execute(select(tokens.c.role).where(tokens.c.token_hash == key)).first()
        with self._lock:
            if row is None:
                self._roles.pop(key, None)
                return None
            if len(self._roles) >= ROLE_CACHE_SIZE:
                self._roles.clear()
            self._roles[key] = (row.role, self.clock() + ROLE_CACHE_SECONDS)
        return row.role
