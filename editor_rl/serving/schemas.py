"""Request and response bodies of the HTTP API (pydantic; validation errors answer 422 naming the field)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from editor_rl.audio.mood import MOOD_NAMES, Mood, parse_mood


class MoodPoint(BaseModel):
    """A mood as a point: arousal (calm −1 … 1 energetic) and valence (dark −1 … 1 bright)."""

    model_config = ConfigDict(extra="forbid")
    arousal: float = Field(ge=-1, le=1)
    valence: float = Field(ge=-1, le=1)


class EditRequest(BaseModel):
    """``POST /api/edit`` as JSON: edit a stored song, optionally in a mood (a name of
    :data:`~editor_rl.audio.mood.MOOD_NAMES`, ``"AROUSAL,VALENCE"`` or ``{"arousal", "valence"}``)."""

    model_config = ConfigDict(extra="forbid")
    song_id: str = Field(min_length=1, max_length=200)
    target_seconds: float = Field(gt=0, le=7200)
    temperature: float = Field(default=0.0, ge=0, le=5)
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)
    mood: MoodPoint | Annotated[str, Field(max_length=40)] | None = Field(default=None, description=f"one of {', '.join(MOOD_NAMES)}, 'AROUSAL,VALENCE' or an object")

    @field_validator("mood")
    @classmethod
    def _known_mood(cls, v):
        if isinstance(v, str):
            parse_mood(v)  # raises a ValueError naming the unknown mood or the value outside [-1, 1]
        return v

    @model_validator(mode="after")
    def _mood_needs_best_edit(self):
        if self.requested_mood() is not None and self.temperature > 0:
            raise ValueError(f"mood with temperature={self.temperature}: a mood steers the best edit (temperature 0) only")
        return self

    def requested_mood(self) -> Mood | None:
        """The request's mood, parsed (None: none)."""
        return parse_mood(self.mood.model_dump() if isinstance(self.mood, MoodPoint) else self.mood)


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
    mood: dict | None = None


class AnotherRequest(BaseModel):
    """``POST /api/edit/another``: another edit of an earlier best edit's job, to judge against it."""

    model_config = ConfigDict(extra="forbid")
    edit_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)


class AnotherResponse(BaseModel):
    """The other edit, and the pair it makes with the first (stored like any pair: judge it with
    ``POST /api/feedback/submit``)."""

    edit: EditResponse
    first_edit_id: str
    pair_id: str


class SubmitRequest(BaseModel):
    """``POST /api/feedback/submit``: one A/B judgement."""

    model_config = ConfigDict(extra="forbid")
    pair_id: str = Field(min_length=1, max_length=400)
    preference: Literal["a", "b", "tie"]
    strength: int = Field(ge=1, le=3)
    rater_id: str | None = Field(default=None, min_length=1, max_length=200)
    notes: str = Field(default="", max_length=4000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    mood_preference: Literal["a", "b", "tie"] | None = Field(default=None, description="for a pair asked for a mood: which edit fits it better")


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
