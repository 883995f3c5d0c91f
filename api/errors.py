"""The service's exceptions and the one place they become HTTP answers.

Every error is JSON. A validation error names the fields; nothing echoes what the client sent
(a message may hold markup or private words); no traceback ever reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("faqbot")


class ServiceError(Exception):
    status = 500
    code = "error"

    def __init__(self, message: str, headers: dict[str, str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the JSON body (e.g. which golden questions a change breaks)


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class ConflictError(ServiceError):
    status, code = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ServiceError):
    status, code = 422, "validation_error"


class PreconditionFailed(ServiceError):
    status, code = 412, "precondition_failed"


class PreconditionRequired(ServiceError):
    status, code = 428, "precondition_required"


class TooManyRequests(ServiceError):
    status, code = 429, "too_many_requests"


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def validation_body(errors: list[dict]) -> dict:
    detail = []
    for e in errors:
        if e.get("type") == "json_invalid" and "ctx" in e:  # FastAPI puts the character offset where a field goes
            error = (e.get("ctx") or {}).get("error", "")
            e = {**e, "loc": ("body",), "msg": f"the body is not valid JSON ({error})" if error else "not valid JSON"}
        loc = [str(x) for x in e.get("loc", ())]
        field = ".".join(x for x in loc if x not in ("body", "query", "path", "header")) or "body"
        detail.append(
            {
                "loc": loc,
                "field": field,
                "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                "type": e.get("type", ""),
            }
        )
    return {
        "error": "validation_error",
        "message": "The request is not valid: " + "; ".join(f"{d['field']}: {d['msg']}" for d in detail),
        "fields": sorted({d["field"] for d in detail}),
        "detail": detail,
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        body = {"error": exc.code, "message": exc.message, **exc.extra}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        if (
            request.method in ("POST", "PUT", "PATCH")
            and any(str(e.get("loc", [""])[0]) == "body" for e in exc.errors())
            and not _is_json(request)
        ):
            return JSONResponse(
                {
                    "error": "unsupported_media_type",
                    "message": "Send the body as JSON (Content-Type: application/json).",
                },
                status_code=415,
            )
        return JSONResponse(validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse(
            {"error": "http_error", "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _store_down(request: Request, exc: DBAPIError):
        # The database restarting or unreachable: say so and when to retry; a bug in a query is still a 500.
        if not (isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated):
            return await _unexpected(request, exc)
        log.warning("the store is unavailable on %s %s: %s", request.method, request.url.path, type(exc.orig).__name__)
        return JSONResponse(
            {
                "error": "store_unavailable",
                "message": "The knowledge store is unavailable for a moment. Please try again shortly.",
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal_error", "message": "Something went wrong on our side. Please try again."},
            status_code=500,
        )
