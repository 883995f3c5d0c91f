"""Health: is the process alive, is it ready for traffic, and the state of each part.

- GET /livez: 200 while the process serves HTTP at all (a supervisor restarts it when this fails).
- GET /readyz: 200 when the index is loaded and the store answers a query now; 503 naming the part
  that failed otherwise (a load balancer sends no traffic to it meanwhile). Rasa is not needed: without
  it the chat answers from the retriever.
- GET /healthz: the contract's view, 200 with the state of each part (store, index, bot) once the
  service can answer questions; a store that cannot be reached is reported "down", never a 500.
  While a new encoder is trained (the first fine-tuning after a start without one, or a retrain), the
  index part says so ("retraining": stage, progress, who started it); "model" serves until the swap.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.runtime import Runtime

router = APIRouter(tags=["health"])
log = logging.getLogger("faqbot.health")

# A store that takes longer than this to answer "SELECT 1" counts as down.
STORE_TIMEOUT_SECONDS = 3.0


async def store_state(runtime: Runtime) -> dict:
    """The store's state: "ok" with its count of live pairs, or "down" with the kind of failure."""
    try:
        pairs = await asyncio.wait_for(asyncio.to_thread(runtime.store.count), STORE_TIMEOUT_SECONDS)
    except TimeoutError:
        return {"state": "down", "detail": f"no answer within {STORE_TIMEOUT_SECONDS:.0f} s"}
    except Exception as exc:
        log.warning("health: the store cannot be reached (%s)", type(exc).__name__)
        return {"state": "down", "detail": type(exc).__name__}
    return {"state": "ok", "pairs": pairs}


def index_state(runtime: Runtime) -> dict:
    try:
        snap = runtime.retriever.snapshot
    except RuntimeError:
        return {"state": "down", "detail": "no index loaded"}
    return {
        "state": "ok",
        "vectors": len(snap.index),
        "passages": len(snap.passages),
        "published": len(snap.pairs),
        "model": snap.index.model_id,
        "checksum": snap.index.checksum[:16],
        # The index serves, but misses changes it could not take in yet (e.g. a full disk).
        **({"behind": runtime.index_problem} if runtime.index_problem else {}),
        # A new encoder is being made (the first fine-tuning after a start without one, or a retrain):
        # "model" serves until it is swapped in (embeddings/retraining.py).
        **({"retraining": _retraining(runtime)} if runtime.retrainer.running else {}),
    }


def _retraining(runtime: Runtime) -> dict:
    status = runtime.retrainer.status()
    return {k: status[k] for k in ("stage", "progress", "started_at", "started_by")}


@router.get("/livez")
def livez() -> dict:
    return {"status": "live"}


@router.get(
    "/readyz",
    responses={503: {"description": "a part this replica needs is not ready; the body names it"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    store, index = await store_state(runtime), index_state(runtime)
    failed = [name for name, part in (("store", store), ("index", index)) if part["state"] != "ok"]
    body = {"status": "not ready" if failed else "ready", "failed": failed, "store": store, "index": index}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict:
    bot = runtime.rasa
    store, index = await store_state(runtime), index_state(runtime)
    if index["state"] == "ok":
        store["published"] = index.pop("published")
    degraded = not (bot.ready or bot.state == "disabled") or store["state"] != "ok"
    return {
        "status": "degraded" if degraded else "ok",
        "store": store,
        "index": index,
        "bot": {
            "state": bot.state,
            "detail": bot.detail,
            "answers_via": "rasa" if bot.ready else "retriever (conversation features unavailable)",
        },
    }
