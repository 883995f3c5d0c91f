"""Rasa's action endpoint, inside the API's process: runs the custom actions with rasa-sdk's executor.

Only the Rasa server this API started knows the token; anyone else gets 401. The route answers on
loopback only (Rasa runs beside the API): a call from another address gets 404 whatever it carries,
as if the route did not exist (behind the production proxy it does not: nginx answers 404 itself).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from rasa_sdk.interfaces import ActionExecutionRejection, ActionMissingDomainException, ActionNotFoundException

from api.deps import RuntimeDep
from api.errors import NotFound, Unauthorized
from api.metrics import timed

router = APIRouter(include_in_schema=False)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")  # Starlette's TestClient has no address


log = logging.getLogger("faqbot.actions")


@router.post("/internal/actions")
async def run_action(request: Request, runtime: RuntimeDep):
    if not _loopback(request.client.host if request.client else ""):
        raise NotFound("Not Found")
    expected = f"Bearer {runtime.rasa.action_token}"
    if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
        raise Unauthorized("not for you")
    with timed(request.app.state, "action_parse"):
        call = await request.json()
    executor = request.app.state.executor
    try:
        with timed(request.app.state, "action_run"):
            result = await executor.run(call)
    except ActionExecutionRejection as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=400)
    except ActionNotFoundException as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=404)
    except ActionMissingDomainException as exc:
        # Rasa answers 449 by sending the call again with its domain.
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, status_code=449)
    return JSONResponse(result.model_dump() if result else None)
