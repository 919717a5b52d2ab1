"""Request and response bodies of the HTTP API (pydantic; validation errors answer 422 naming the field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EditRequest(BaseModel):
    """``POST /api/edit`` as JSON: edit a stored song."""

    model_config = ConfigDict(extra="forbid")
    song_id: str = Field(min_length=1, max_length=200)
    target_seconds: float = Field(gt=0, le=7200)
    temperature: float = Field(default=0.0, ge=0, le=5)
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)


class EditResponse(BaseModel):
    """An edit: its EDL, length, where its audio is, the model version that made it, and the reward
    model's score (mean and ensemble spread) when the service has a reward model."""

    edit_id: str
    song_id: str
    edl: dict
    duration_s: float
    audio_url: str
    model_version: str
    reward: float | None = None
    reward_std: float | None = None


class SubmitRequest(BaseModel):
    """``POST /api/feedback/submit``: one A/B judgement."""

    model_config = ConfigDict(extra="forbid")
    pair_id: str = Field(min_length=1, max_length=400)
    preference: Literal["a", "b", "tie"]
    strength: int = Field(ge=1, le=3)
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)
    notes: str = Field(default="", max_length=4000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class RatingRequest(BaseModel):
    """``POST /api/feedback/rating``: absolute 1–5 scores of one candidate — how well it keeps the
    song's feel (mood), its quality (seams, flow) and overall."""

    model_config = ConfigDict(extra="forbid")
    candidate_id: str = Field(min_length=1, max_length=400)
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)
    feel: int = Field(ge=1, le=5)
    quality: int = Field(ge=1, le=5)
    overall: int = Field(ge=1, le=5)
    notes: str = Field(default="", max_length=4000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class Accepted(BaseModel):
    """A stored submit or rating: its row ``id`` and whether this request ``created`` it (False: a retry);
    a judgement of a verification pair also says which ``version`` it verifies and where its round stands
    (``verdict``: pending, promoted or retired)."""

    id: int
    created: bool
    version: str | None = None
    verdict: str | None = None
