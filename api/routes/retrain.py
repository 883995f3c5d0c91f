"""Retraining the encoder and its confidence in the background (editor, admin).

`GET /api/retrain`: how the last or running job goes. `POST /api/retrain`: start one now (202; 409
while one runs or when retraining is off). The job itself is embeddings/retraining.py; the old model
serves chat and search until the new one is swapped in.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import EditorCaller, EditorRole, RuntimeDep
from api.errors import ServiceError

log = logging.getLogger("faqbot")

router = APIRouter(prefix="/api/retrain", tags=["editors"])


class RetrainRunning(ServiceError):
    status, code = 409, "retrain_running"


class RetrainOff(ServiceError):
    status, code = 409, "retrain_disabled"


class Schedule(BaseModel):
    every_hours: float | None = Field(description="hours between scheduled retrains; null: only when started")
    next_at: str | None = Field(description="when the next scheduled retrain starts (ISO 8601, UTC)")


class RetrainStatus(BaseModel):
    state: Literal["idle", "running", "succeeded", "failed"]
    stage: str = Field(
        description="preparing, starting, training, exporting, calibrating, trained, loading, indexing, swapping, done"
    )
    progress: float = Field(ge=0, le=1)
    started_at: str | None
    finished_at: str | None
    message: str
    model: str = Field(description="the encoder serving now")
    schedule: Schedule
    enabled: bool = Field(description="false: retraining is off (retrain.enabled or encoder.finetune in config.yml)")
    started_by: str | None = None
    calibration: dict | None = Field(
        None, description="the confidence fitted by the last job: a, rare, unknown, b, n, accuracy, brier, ..."
    )


@router.get("", response_model=RetrainStatus)
def retrain_status(runtime: RuntimeDep, _role: EditorRole) -> RetrainStatus:
    return RetrainStatus.model_validate(runtime.retrainer.status())


@router.post(
    "",
    status_code=202,
    response_model=RetrainStatus,
    responses={409: {"description": "a retrain is running already, or retraining is off"}},
)
def start_retrain(runtime: RuntimeDep, caller: EditorCaller) -> RetrainStatus:
    retrainer = runtime.retrainer
    if not retrainer.enabled:
        raise RetrainOff("Retraining is off in config.yml (retrain.enabled, encoder.finetune).")
    if not retrainer.start(by=caller.name):
        raise RetrainRunning("A retrain is running already; its progress is at GET /api/retrain.")
    log.info("retrain started by %s", caller.name)
    return RetrainStatus.model_validate(retrainer.status())
