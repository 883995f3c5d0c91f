"""GET /healthz: the state of each part, once the service can answer questions."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep) -> dict:
    snap = runtime.retriever.snapshot
    bot = runtime.rasa
    return {
        "status": "ok" if bot.ready or bot.state == "disabled" else "degraded",
        "store": {"state": "ok", "pairs": runtime.store.count(), "published": len(snap.pairs)},
        "index": {
            "state": "ok",
            "vectors": len(snap.index),
            "passages": len(snap.passages),
            "model": snap.index.model_id,
            "checksum": snap.index.checksum[:16],
        },
        "bot": {
            "state": bot.state,
            "detail": bot.detail,
            "answers_via": "rasa" if bot.ready else "retriever (conversation features unavailable)",
        },
    }
