"""Staff sign-in for the web pages: /api/auth/login, /logout and /me.

The session lives in an HttpOnly cookie the page's script cannot read (so an injected script cannot
steal it), SameSite=Strict (so other sites' pages do not send it), Secure over https. The sign-in
answer carries the session's CSRF token, which the page sends back in `X-CSRF-Token` on every
change (api/deps.py). Scripts and tools keep using bearer tokens.

A sign-in from another site's page is refused outright: a login CSRF would sign the victim's browser
into the attacker's account.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.accounts import COOKIE, PASSWORD_MAX, Session, SignInRefused, TooManyAttempts
from api.deps import AccountsDep, client_of
from api.errors import Forbidden, TooManyRequests, Unauthorized

router = APIRouter(prefix="/api/auth", tags=["staff sign-in"])

DEFAULT_PORTS = {"http": "80", "https": "443"}


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    # Checked against PASSWORD_MAX by the accounts (as a wrong password), so a long one costs no more.
    password: str = Field(max_length=PASSWORD_MAX * 4)


class AuthSession(BaseModel):
    """Who is signed in, and what the page needs to act for them."""

    username: str
    role: str = Field(description="staff, editor or admin")
    csrf_token: str = Field(description="send it back as X-CSRF-Token on every POST, PUT, PATCH and DELETE")
    expires_at: dt.datetime = Field(description="when the session ends however busy (UTC)")
    idle_timeout_minutes: float = Field(description="the session also ends after this long without a request")


def _body(session: Session, idle_minutes: float) -> AuthSession:
    return AuthSession(
        username=session.username,
        role=session.role,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
        idle_timeout_minutes=idle_minutes,
    )


def _origin(scheme: str, netloc: str) -> str:
    scheme, netloc = scheme.lower(), netloc.lower()
    host, _, port = netloc.rpartition(":")
    if host and port == DEFAULT_PORTS.get(scheme):  # browsers leave a default port out of Origin
        netloc = host
    return f"{scheme}://{netloc}"


def _refuse_other_sites(request: Request) -> None:
    """A browser names the page's origin on every POST; a request without one is a script's, not a page's."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    scheme, _, netloc = origin.partition("://")
    if _origin(scheme, netloc.rstrip("/")) != _origin(request.url.scheme, request.url.netloc):
        raise Forbidden("Please sign in on this service's own sign-in page.")


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _cookie(value: str, max_age: int, secure: bool) -> str:
    """Written by hand: the attributes spelled as the staff page and its tests expect them."""
    cookie = f"{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    if max_age == 0:
        cookie += "; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    return cookie + ("; Secure" if secure else "")


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@router.post(
    "/login",
    response_model=AuthSession,
    responses={401: {"description": "wrong username or password"}, 403: {}, 429: {}},
)
def login(body: LoginRequest, request: Request, response: Response, accounts: AccountsDep) -> AuthSession:
    """Sign in with a username and password; the session comes back as the `faqbot_session` cookie."""
    _refuse_other_sites(request)
    client = client_of(request)
    try:
        signed = accounts.sign_in(body.username, body.password, client)
    except TooManyAttempts as exc:
        who = "for this account" if exc.scope == "account" else "from your network"
        raise TooManyRequests(
            f"Too many sign-in attempts {who}. Please try again in {_minutes(exc.retry_after)}.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except SignInRefused:
        raise Unauthorized("Wrong username or password.") from None
    session = signed.session
    max_age = int((session.expires_at - session.created_at).total_seconds())
    response.headers.append("Set-Cookie", _cookie(signed.token, max_age, _is_https(request)))
    return _body(session, accounts.web.session_idle_minutes)


@router.post("/logout", status_code=204, responses={403: {}})
def logout(request: Request, accounts: AccountsDep) -> Response:
    """Sign out: the session ends on the server, and the cookie is cleared. Signed out already: 204 too."""
    _refuse_other_sites(request)
    accounts.end_session(request.cookies.get(COOKIE))
    response = Response(status_code=204)
    response.headers.append("Set-Cookie", _cookie("", 0, _is_https(request)))
    return response


@router.get("/me", response_model=AuthSession, responses={401: {"description": "not signed in"}})
def me(request: Request, accounts: AccountsDep) -> AuthSession:
    """Who is signed in (the staff page asks on load); counts as activity for the idle limit."""
    token = request.cookies.get(COOKIE)
    session = accounts.session(token)
    if session is None:
        headers = {"Set-Cookie": _cookie("", 0, _is_https(request))} if token else None
        raise Unauthorized("You are not signed in, or your session has ended. Please sign in.", headers=headers)
    return _body(session, accounts.web.session_idle_minutes)
