"""Who may call the staff and editors' routes: bearer tokens, stored as hashes only.

Accounts and tokens belong to the HTTP layer, not to the knowledge store: they live in the same
database (one URL to configure) but in their own table, created here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert, select
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


# A token is named by the start of its hash: enough to tell tokens apart, useless to anyone who has it.
FINGERPRINT_CHARS = 12


@dataclass(frozen=True)
class TokenInfo:
    fingerprint: str
    role: str
    label: str
    created_at: dt.datetime


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

    def fingerprint(self, token: str) -> str:
        return hash_token(token)[:FINGERPRINT_CHARS]

    def listed(self) -> list[TokenInfo]:
        """Every token (its fingerprint, never the token), oldest first."""
        with self.engine.connect() as c:
            rows = c.execute(select(tokens).order_by(tokens.c.created_at, tokens.c.token_hash)).all()
        return [TokenInfo(r.token_hash[:FINGERPRINT_CHARS], r.role, r.label, r.created_at) for r in rows]

    def revoke(self, fingerprint: str) -> TokenInfo:
        """Delete the one token whose hash starts with `fingerprint` (at least 8 characters). ValueError
        when none or several match. It stops working here at once and on other replicas within
        ROLE_CACHE_SECONDS."""
        prefix = fingerprint.strip().lower()
        if len(prefix) < 8 or any(ch not in "0123456789abcdef" for ch in prefix):
            raise ValueError("Give at least 8 characters of the token's fingerprint (python -m api.cli tokens).")
        with self.engine.begin() as c:
            rows = c.execute(select(tokens).where(tokens.c.token_hash.startswith(prefix))).all()
            if len(rows) != 1:
                raise ValueError(f"{'No token' if not rows else 'Several tokens'} with the fingerprint {prefix}.")
            c.execute(delete(tokens).where(tokens.c.token_hash == rows[0].token_hash))
        with self._lock:
            self._roles.pop(rows[0].token_hash, None)
        r = rows[0]
        return TokenInfo(r.token_hash[:FINGERPRINT_CHARS], r.role, r.label, r.created_at)

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
