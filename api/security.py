"""Security headers on every response, and CORS for the chat widget only.

One middleware instead of headers set route by route, so a page or an error added later cannot
forget them. What a response gets depends on what it is:

- every response: `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`;
- an HTML page: a Content-Security-Policy without inline script or style, so text a page shows
  (answers, notes, a visitor's own words) can never run as script;
- JSON: a policy that allows nothing, for a response opened directly in a browser;
- /api/ answers: `Cache-Control: no-store` (a sign-in's CSRF token, staff search results and flags
  stay out of shared and browser caches);
- files under /static/: a short cache, so a changed page reaches browsers within minutes;
- the widget's files: `Cross-Origin-Resource-Policy: cross-origin`, so other sites may load them.

The API documentation at /docs is our own files (api/routes/docs.py), under the same policy.

CORS: Starlette's CORSMiddleware, but only for /api/chat and only for the origins in
`web.allowed_origins`; no credentials, so a page elsewhere can ask questions and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'"
)
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
STATIC_CACHE = "public, max-age=300"
WIDGET_PATHS = ("/widget.js", "/static/widget")  # the script other sites load, and its own files
CHAT_PATH = "/api/chat"


def _media_type(headers: MutableHeaders) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def headers_for(path: str, headers: MutableHeaders) -> None:
    """Add the headers this response should carry, keeping any a route set itself."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    media = _media_type(headers)
    if media == "text/html":
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
    elif media == "application/json" or media.endswith("+json"):
        headers.setdefault("Content-Security-Policy", JSON_CSP)
    if path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
    elif path.startswith("/static/") or path == "/widget.js":
        headers.setdefault("Cache-Control", STATIC_CACHE)
    if path.startswith(WIDGET_PATHS):
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"


class SecurityHeaders:
    """Pure ASGI (not BaseHTTPMiddleware), so file and streamed responses pass through untouched."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers_for(path, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ChatCORS:
    """CORS for /api/chat (and its preflight) from the allowed origins; every other path is same-origin only."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]):
        self.app = app
        origins = list(allowed_origins)
        self.cors: ASGIApp | None = None
        if origins:
            self.cors = CORSMiddleware(
                app,
                allow_origins=origins,
                allow_methods=["POST"],
                allow_headers=["Content-Type"],
                allow_credentials=False,
                expose_headers=["Retry-After"],  # so the widget can say how long to wait after a 429
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is not None and scope["type"] == "http" and scope["path"] == CHAT_PATH:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
