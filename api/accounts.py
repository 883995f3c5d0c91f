"""Staff sign-in: accounts with argon2id password hashes, web sessions, and sign-in limits.

Accounts belong to the HTTP layer, like tokens (api/auth.py): same database, own tables, created
here. Everything a sign-in needs is kept in the database, not in a worker's memory, so several API
workers (or a restart) see the same sessions and the same count of failed attempts.

A session is a random token in an HttpOnly cookie; only its sha256 is stored, so a copy of the
database signs no one in. Each session also has a CSRF token, given to the page in the sign-in
answer and checked on every cookie-authenticated write (api/deps.py). A session ends at a fixed
time after sign-in (`web.session_hours`) or earlier when idle (`web.session_idle_minutes`).

Time comes from `Accounts.clock`, so tests move it instead of waiting.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, delete, func, insert, select, update
from sqlalchemy.engine import Engine

from api.auth import ROLES, hash_token
from api.settings import WebSettings

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
PASSWORD_MIN = 12
# Longer passwords are refused rather than hashed: argon2 reads all of it, and a megabyte "password"
# would be a cheap way to keep a worker busy.
PASSWORD_MAX = 1024
COOKIE = "faqbot_session"
# last_seen is written at most this often per session: the idle limit is counted in minutes, and a
# write on every request would serialise the staff page's calls on SQLite's one writer.
TOUCH_SECONDS = 30

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# One row per sign-in attempt, kept for one window: the limits count them (per account: failures;
# per client address: all attempts). A successful sign-in deletes the account's failures.
signin_attempts = Table(
    "signin_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, index=True),
    Column("client", String(64), nullable=False, index=True),
    Column("ok", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is written in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    """The username as stored, or ValueError saying what is wrong with it."""
    name = normalise_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise ValueError("A username has 3 to 64 characters: lowercase letters, digits, '.', '_' or '-'.")
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"A password needs at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"A password has at most {PASSWORD_MAX} characters.")
    return password


@dataclass(frozen=True)
class Session:
    """A signed-in person, as the routes see them."""

    username: str
    role: str
    csrf_token: str
    created_at: dt.datetime
    last_seen: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the session, and the cookie value (shown once, never stored)."""

    session: Session
    token: str


class SignInRefused(Exception):
    """Wrong username or password (the same for both, so nobody learns which accounts exist)."""


class TooManyAttempts(Exception):
    """A sign-in limit is reached; `retry_after` seconds until the next attempt is counted."""

    def __init__(self, retry_after: float, scope: str):
        super().__init__(scope)
        self.retry_after = max(1, math.ceil(retry_after))
        self.scope = scope  # "account" or "client"


class Accounts:
    """Accounts, web sessions and the sign-in limits, on the store's database."""

    def __init__(
        self,
        engine: Engine,
        web: WebSettings,
        clock: Callable[[], dt.datetime] = _utc_now,
        hasher: PasswordHasher | None = None,
    ):
        self.engine = engine
        self.web = web
        self.clock = clock
        self.hasher = hasher or PasswordHasher()  # argon2id with the library's current parameters
        # Each hash takes 64 MiB for ~0.1 s: a burst of sign-ins waits here instead of exhausting memory.
        self._hashing = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
        metadata.create_all(engine)
        # Unknown usernames are verified against this, so a wrong name costs as long as a wrong password.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def now(self) -> dt.datetime:
        return self.clock()

    # --- accounts -------------------------------------------------------------------------

    def set_user(self, username: str, password: str, role: str) -> bool:
        """Create the account, or give an existing one this password and role (ending its sessions).

        True when the account was created. ValueError says what is wrong with the input.
        """
        name = check_username(username)
        check_password(password)
        if role not in ROLES:
            raise ValueError(f"The role must be one of {', '.join(ROLES)}.")
        hashed = self._hash(password)
        with self.engine.begin() as c:
            exists = c.execute(select(users.c.username).where(users.c.username == name)).first()
            if exists:
                c.execute(
                    update(users)
                    .where(users.c.username == name)
                    .values(password_hash=hashed, role=role, disabled=False)
                )
                # A new password is often set because the old one leaked: nobody stays signed in with it.
                c.execute(delete(web_sessions).where(web_sessions.c.username == name))
                c.execute(delete(signin_attempts).where(signin_attempts.c.username == name))
            else:
                c.execute(
                    insert(users).values(
                        username=name, role=role, password_hash=hashed, created_at=self.now(), disabled=False
                    )
                )
        return not exists

    def role_of(self, username: str) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(select(users.c.role).where(users.c.username == normalise_username(username))).first()
        return row.role if row else None

    # --- sign-in --------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, client: str) -> SignIn:
        """A new session, or SignInRefused / TooManyAttempts.

        The limits are checked before the password, so a locked account gives no hint whether the
        password was right; a refused attempt is not counted, so the wait ends when it says.
        """
        name = normalise_username(username)[:64]  # the login route allows no more; this guards other callers
        client = client[:64]
        now = self.now()
        self._check_limits(name, client, now)
        with self.engine.connect() as c:
            row = c.execute(select(users).where(users.c.username == name)).first()
        verified = self._verify(row.password_hash if row is not None else None, password)
        if row is None or row.disabled or not verified:
            self._record(name, client, False, now)
            raise SignInRefused()
        self._record(name, client, True, now)
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as c:
                c.execute(update(users).where(users.c.username == name).values(password_hash=self._hash(password)))
        return self._open_session(name, row.role, now)

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self.hasher.hash(password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        """Whether the password matches; always spends one verification's time, whatever the input."""
        real = password_hash is not None and len(password) <= PASSWORD_MAX
        try:
            with self._hashing:
                matched = self.hasher.verify(password_hash or self._dummy_hash, password[:PASSWORD_MAX])
        except (VerificationError, InvalidHashError):
            return False
        return real and matched

    def _window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.web.signin_window_minutes)

    def _check_limits(self, name: str, client: str, now: dt.datetime) -> None:
        since = now - self._window()
        limits = (
            ("client", self.web.signin_max_attempts_per_client, signin_attempts.c.client == client),
            (
                "account",
                self.web.signin_max_failures_per_account,
                (signin_attempts.c.username == name) & signin_attempts.c.ok.is_(False),
            ),
        )
        with self.engine.connect() as c:
            for scope, limit, condition in limits:
                if not limit:
                    continue
                q = select(func.count(), func.min(signin_attempts.c.at)).where(condition, signin_attempts.c.at > since)
                count, oldest = c.execute(q).one()
                if count >= limit:
                    # The oldest counted attempt leaves the window first; then one more is allowed.
                    wait = (_aware(oldest) + self._window() - now).total_seconds()
                    raise TooManyAttempts(wait, scope)

    def _record(self, name: str, client: str, ok: bool, now: dt.datetime) -> None:
        with self.engine.begin() as c:
            c.execute(delete(signin_attempts).where(signin_attempts.c.at <= now - self._window()))
            if ok:
                c.execute(
                    delete(signin_attempts).where(signin_attempts.c.username == name, signin_attempts.c.ok.is_(False))
                )
            c.execute(insert(signin_attempts).values(username=name, client=client, ok=ok, at=now))

    # --- sessions -------------------------------------------------------------------------

    def _open_session(self, name: str, role: str, now: dt.datetime) -> SignIn:
        token = secrets.token_urlsafe(32)
        session = Session(
            username=name,
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            expires_at=now + dt.timedelta(hours=self.web.session_hours),
        )
        idle_cutoff = now - dt.timedelta(minutes=self.web.session_idle_minutes)
        with self.engine.begin() as c:
            # Sessions that ended are removed here rather than by a timer: sign-ins are rare enough.
            c.execute(
                delete(web_sessions).where(
                    (web_sessions.c.expires_at <= now) | (web_sessions.c.last_seen <= idle_cutoff)
                )
            )
            c.execute(
                insert(web_sessions).values(
                    session_hash=hash_token(token),
                    username=name,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen=now,
                    expires_at=session.expires_at,
                )
            )
        return SignIn(session, token)

    def session(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session for a cookie value, or None (unknown, ended, idle too long, account gone
        or disabled). A live session's last_seen moves to now (at most every TOUCH_SECONDS)."""
        if not token:
            return None
        key = hash_token(token)
        now = self.now()
        q = (
            select(web_sessions, users.c.role, users.c.disabled)
            .join(users, users.c.username == web_sessions.c.username)
            .where(web_sessions.c.session_hash == key)
        )
        with self.engine.connect() as c:
            row = c.execute(q).first()
        if row is None:
            return None
        last_seen, expires_at = _aware(row.last_seen), _aware(row.expires_at)
        idle = dt.timedelta(minutes=self.web.session_idle_minutes)
        if row.disabled or now >= expires_at or now - last_seen >= idle:
            self.end_session(token)
            return None
        if touch and (now - last_seen).total_seconds() >= TOUCH_SECONDS:
            with self.engine.begin() as c:
                c.execute(update(web_sessions).where(web_sessions.c.session_hash == key).values(last_seen=now))
            last_seen = now
        return Session(
            username=row.username,
            role=row.role,
            csrf_token=row.csrf_token,
            created_at=_aware(row.created_at),
            last_seen=last_seen,
            expires_at=expires_at,
        )

    def end_session(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as c:
                c.execute(delete(web_sessions).where(web_sessions.c.session_hash == hash_token(token)))
