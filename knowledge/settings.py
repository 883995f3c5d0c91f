"""Settings of the knowledge layer: how `make validate` judges content (config.yml `validation:`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ValidationSettings(BaseModel):
    # Two pairs whose questions or alternates are this similar (cosine) would fight in retrieval.
    near_duplicate_threshold: float = Field(0.95, gt=0, le=1)
    # Reading age = Flesch-Kincaid grade + 5; answers above this are reported as hard to read.
    max_reading_age: float = Field(12, gt=0)
