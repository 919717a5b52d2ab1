"""Judging an edit's mood by what the song really is (a synthetic song's truth), never by the analysis.

An edit's true mood distance is the mean, over its output time, of the distance between the true
(arousal, valence) of the source moment playing and the request. Moods are heard against the song:
an edit **matches** a request when it is at least as near it as the best fifth
(``quantile``) of the song's own excerpts of the same length (from every true downbeat) — what a
listener who asked for "the energetic part" of this song would accept. An edit asked for no mood
matches a mood about as often as a random excerpt does (the base rate the benchmark reports).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from editor_rl.audio.mood import Mood, truth_moods
from editor_rl.edit.plan import EditPlan

STEP_S = 0.1
"""Output time between the moments an edit's mood is read at, seconds."""


def _spans_distance(truth: Mapping[str, Any], spans: list[tuple[float, float]], mood: Mood) -> float:
    times = np.concatenate([np.arange(a, b, STEP_S) for a, b in spans if b > a])
    return float(np.linalg.norm(truth_moods(truth, times) - mood.point, axis=1).mean())


def true_mood_distance(truth: Mapping[str, Any], plan: EditPlan, mood: Mood) -> float:
    """Mean distance in the (arousal, valence) plane between what the edit plays (by the truth) and the mood."""
    return _spans_distance(truth, [(s.src_start_s, s.src_end_s) for s in plan.segments], mood)


def excerpt_distances(truth: Mapping[str, Any], *, seconds: float, mood: Mood) -> np.ndarray:
    """The true mood distance of every excerpt of ``seconds`` starting on a true downbeat (that fits in the song)."""
    starts = [float(b) for b in truth["downbeats_s"] if b + seconds <= truth["duration_s"] + 1e-6]
    starts = starts or [0.0]
    return np.array([_spans_distance(truth, [(b, min(b + seconds, truth["duration_s"]))], mood) for b in starts])


def matches_mood(truth: Mapping[str, Any], plan: EditPlan, mood: Mood, *, quantile: float = 0.2) -> bool:
    """Whether the edit is at least as near the mood as the song's best ``quantile`` of excerpts of its length."""
    bar = float(np.quantile(excerpt_distances(truth, seconds=plan.duration_s, mood=mood), quantile))
    return true_mood_distance(truth, plan, mood) <= bar + 1e-9
