"""Logs as JSON lines: one line per request with its id, and the service's own lines carrying that id.

What a line may hold is chosen here, once, so that nothing a visitor or a staff member typed reaches a
log: a request's line has its method, its path *without* the query string (staff search sends the
question as `?q=`), the route it matched, the status, the time taken and the client's address, and
never a body or a header's value (the request id excepted). The service's own log calls
(`logging.getLogger("faqbot…")`) name what happened, never the message (bot/, api/ and embeddings/ are
written so; tests/e2e/test_privacy.py sends a canary through every way in and looks for it in every
log). Rasa's logging is set in bot/logging.yml.

A request id comes from the client's `X-Request-ID` when it is a plain token (letters, digits and
`._:-`, at most 64), else a fresh one; it is sent back in `X-Request-ID` and added to every line logged
while the request is handled (a context variable, so worker threads started with asyncio.to_thread
carry it too).

uvicorn's own access log is turned off (`access_log=False`): it logs the full URL, query included.
`log_config()` is what `python -m api` passes to uvicorn, so uvicorn's lines are JSON too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.clients import client_address

ACCESS_LOGGER = "faqbot.access"
REQUEST_ID_HEADER = "X-Request-ID"
_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Standard LogRecord attributes (and uvicorn's coloured copy of its message); anything else on a record
# was passed with `extra=` and is logged as a field.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
# Logged as the status of a request whose client went away before the answer (nginx's convention).
CLIENT_CLOSED = 499

_request_id: ContextVar[str | None] = ContextVar("faqbot_request_id", default=None)

log = logging.getLogger(ACCESS_LOGGER)


def request_id_from(value: str | None) -> str:
    """The client's request id when it is a plain token, else a new one (never a client's free text)."""
    if value and _ID_SHAPE.fullmatch(value):
        return value
    return secrets.token_hex(16)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request id when in a request,
    fields passed with `extra=`, and the traceback of an exception. Non-ASCII is escaped, so a line is
    always valid UTF-8 (a lone surrogate cannot break the log)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=True, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig for `python -m api`: every line JSON on stderr, uvicorn's included.

    Loggers made before it is applied (every module's "faqbot…" logger) keep working."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers bring their own handlers; here they go through the root's instead.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Off in any case (access_log=False): its lines hold the query string.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            # Its INFO line for every call to Rasa says only "HTTP Request: POST …/webhook": noise.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def route_template(scope: Scope, routes: Iterable[Any] = ()) -> str:
    """The path pattern the request matched ("/api/qa/{pair_id}"), so metrics and logs group requests
    without holding ids. A request answered before routing (a 405, a 413) is matched by its path against
    `routes` (flat, as iter_route_contexts gives them); "unmatched" when no route has its path (a 404)."""
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.path_regex.match(scope["path"])), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestLog:
    """Pure ASGI middleware: the request id, one log line per request, and the request metrics.

    Added last in create_app, so it wraps every other middleware and sees the status the client got.
    `observe(route, method, status, seconds)` is called for every request (api/metrics.py) when given.
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_proxies: list[str] | tuple[str, ...] = (),
        observe: Callable[[str, str, int, float], None] | None = None,
        routes: Sequence[BaseRoute] = (),
    ):
        self.app = app
        self.routes = routes  # the app's live route list: flattened at the first request, when it is complete
        self._flat: list[Any] | None = None
        self.trusted_proxies = tuple(trusted_proxies)
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = _request_id.set(request_id)
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            self._log(scope, request, request_id, CLIENT_CLOSED, time.perf_counter() - start)
            raise
        except BaseException:
            # The error handler outside (ServerErrorMiddleware: errors.install's 500) logs the traceback
            # after this returns, so the id stays set in this request's own context for that line.
            self._log(scope, request, request_id, 500, time.perf_counter() - start)
            raise
        self._log(scope, request, request_id, status, time.perf_counter() - start)
        _request_id.reset(token)

    def _log(self, scope: Scope, request: Request, request_id: str, status: int, seconds: float) -> None:
        if self._flat is None:
            self._flat = [rc for rc in iter_route_contexts(self.routes) if hasattr(rc, "path_regex")]
        route, method = route_template(scope, self._flat), scope["method"]
        if self.observe is not None:
            self.observe(route, method, status, seconds)
        log.info(
            "%s %s %d",
            method,
            scope["path"],
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "path": scope["path"],  # never the query string
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": self.client(request),
            },
        )

    def client(self, request: Request) -> str:
        """The client's address: the connecting one, or the visitor's behind a trusted proxy (api/clients.py)."""
        return client_address(request, self.trusted_proxies)
