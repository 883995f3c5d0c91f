"""Shared dependencies of the routes, as typed aliases; who may call what.

Staff, editors and admins are let in by a bearer token (scripts, tools) or by the session cookie of
a signed-in person (the staff page). A cookie is sent by the browser on its own, so a write that
rests on it must also carry the session's CSRF token, which only the page that signed in knows.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.accounts import COOKIE, Accounts
from api.clients import client_address
from api.errors import Forbidden, ServiceError, TooManyRequests, Unauthorized
from api.limits import Limiter
from api.runtime import Runtime


# The dependencies are coroutines where they do no blocking work: FastAPI runs a plain function in
# its thread pool, a hop (~0.1-0.5 ms here) that a getter of app.state does not need.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_of(request: Request) -> str:
    """The client's address: the connecting one, or the visitor's behind a trusted proxy (api/clients.py)."""
    return client_address(request, request.app.state.runtime.settings.web.trusted_proxies)


def check_rate(limiter: Limiter, request: Request, what: str) -> None:
    """429 with Retry-After when this client has used up its allowance on this limiter."""
    wait = limiter.check(client_of(request))
    if wait:
        raise TooManyRequests(
            f"Too many {what}: please wait a moment and try again.", headers={"Retry-After": str(int(wait + 0.999))}
        )


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


class CsrfFailed(ServiceError):
    status, code = 403, "csrf_failed"


# Methods that change something: a cookie alone never authorises them (the browser sends it
# wherever the request came from), the session's CSRF token in a header must come too.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Caller:
    """Who is calling: a bearer token's role, or a signed-in person's name and role."""

    role: str
    username: str | None = None  # None for a bearer token (tokens carry a role, not a person)

    @property
    def name(self) -> str:
        """How the caller is recorded as author of a change."""
        return self.username or f"{self.role} token"


def require_caller(*roles: str):
    """A dependency that lets in a bearer token or a staff session of one of these roles.

    A bearer header, when present, decides alone: a request that carries one is not from a page's
    ambient cookie, so it needs no CSRF token, and a wrong token is not rescued by a cookie.
    """

    async def check(request: Request, runtime: RuntimeDep, accounts: AccountsDep) -> Caller:
        token = _bearer(request)
        if token is not None:
            # A known token's role is remembered for a few seconds (api/auth.py); an unknown one is
            # looked up every time, in the thread pool (the database may be across the network).
            role = runtime.tokens.cached_role(token)
            if role is None:
                role = await run_in_threadpool(runtime.tokens.role_for, token)
            caller = _token_caller(role)
        else:
            caller = await run_in_threadpool(_session_caller, request, accounts)
        if caller.role not in roles:
            what = "your account" if caller.username else "your token"
            raise Forbidden(f"This needs the role {' or '.join(roles)}; {what} is for {caller.role}.")
        return caller

    return check


def _token_caller(role: str | None) -> Caller:
    if role is None:
        raise Unauthorized("This token is not valid.", headers={"WWW-Authenticate": "Bearer"})
    return Caller(role)


def _session_caller(request: Request, accounts: Accounts) -> Caller:
    """The signed-in person of the session cookie (a database read and, now and then, a write)."""
    session = accounts.session(request.cookies.get(COOKIE))
    if session is None:
        raise Unauthorized(
            "Please sign in (or send 'Authorization: Bearer <token>').", headers={"WWW-Authenticate": "Bearer"}
        )
    if request.method in UNSAFE_METHODS and not hmac.compare_digest(
        request.headers.get("x-csrf-token", "").encode(), session.csrf_token.encode()
    ):
        raise CsrfFailed(
            "This change was refused because it did not come from the staff page you signed in on. "
            "Reload the page and try again."
        )
    return Caller(session.role, session.username)


def require_role(*roles: str):
    """As require_caller, for routes that need only the role."""
    check_caller = require_caller(*roles)

    async def check(request: Request, runtime: RuntimeDep, accounts: AccountsDep) -> str:
        return (await check_caller(request, runtime, accounts)).role

    return check


StaffRole = Annotated[str, Depends(require_role("staff", "editor", "admin"))]
EditorRole = Annotated[str, Depends(require_role("editor", "admin"))]
StaffCaller = Annotated[Caller, Depends(require_caller("staff", "editor", "admin"))]
EditorCaller = Annotated[Caller, Depends(require_caller("editor", "admin"))]
