"""Judging an edit's mood by what the song really is (a synthetic song's truth), never by the analysis.

An edit's true mood distance is the mean, over its output time, of the distance between the true
(arousal, valence) of the source moment playing and the request. Moods are heard against the song:
an edit **matches** a request when it is at least as near it as the best fifth
(``quantile``) of the song's own excerpts of the same length (from every true downbeat) — what a
listener who asked for "the energetic part" of this song would accept. An edit asked for no mood
matches a mood about as often as a random excerpt does (the base rate the benchmark reports).

:data:`MOOD_TASTES` are listeners who asked for a mood: the mood by the truth, and the panel's
aspects (length, seams, bar lines, ending) through the heard song.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.mood import Mood, mood_alignment, truth_moods
from editor_rl.edit.plan import EditPlan
from editor_rl.raters.rater import SimulatedRater
from editor_rl.raters.tastes import Taste

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


# ---------------------------------------------------------------------------------------------
# Mood-sensitive listeners: a panel's aspects plus how near the edit sounds to the mood asked for.

class MoodTaste(NamedTuple):
    """A listener who asked for a mood: ``mood`` weighs the mood aspect (:func:`mood_fit`),
    ``weights`` the panel's aspects (:mod:`editor_rl.raters.tastes`); judged as a Taste is."""

    name: str
    mood: float
    weights: Mapping[str, float]
    about: str = ""

    def as_taste(self) -> Taste:
        """The panel taste of its other aspects (noise, ties and strengths as every taste's)."""
        return Taste(self.name, dict(self.weights), about=self.about)


MOOD_TASTES: dict[str, MoodTaste] = {t.name: t for t in (
    MoodTaste("mood_first", 2.0, {"tight": 0.6, "on_bar": 0.4}, about="the mood asked for above all"),
    MoodTaste("mood_and_seams", 1.0, {"seams": 1.0, "on_bar": 0.6, "tight": 0.6}, about="the mood, and clean cuts on bar lines"),
    MoodTaste("mood_and_ending", 1.0, {"ending": 0.8, "tight": 0.6, "seams": 0.4}, about="the mood, and a real ending"),
)}
"""Listeners who judge the mood by the truth (and the rest through the heard song, as the panel does)."""


def mood_fit(truth: Mapping[str, Any], plan: EditPlan, mood: Mood) -> float:
    """The mood aspect in [0, 1]: :func:`~editor_rl.audio.mood.mood_alignment` of the true distance."""
    return mood_alignment(true_mood_distance(truth, plan, mood))


def mood_utility(rater: SimulatedRater, taste: MoodTaste, analysis: SongAnalysis, plan: EditPlan, *, truth: Mapping[str, Any],
                 mood: Mood, target_seconds: float) -> float:
    """A mood listener's utility of an edit: its weighted mean of the mood aspect and its other aspects.

    ``rater`` is a :class:`SimulatedRater` of ``taste.as_taste()`` (it hears the song's truth).
    """
    aspects = rater.aspects(analysis, plan, target_seconds=target_seconds)
    total = taste.mood * mood_fit(truth, plan, mood) + sum(w * aspects[k] for k, w in taste.weights.items())
    return float(total / (taste.mood + sum(taste.weights.values())))


class MoodListener(NamedTuple):
    """A listener with a sense of the named moods of their own (``points``: name → (arousal, valence);
    names not given are heard at the named points), who says which of two edits fits a mood better
    by the truth: the nearer one, noisily (Bradley–Terry with ``noise``), a tie within ``tie_margin``."""

    name: str
    points: Mapping[str, tuple[float, float]]
    noise: float = 0.05
    tie_margin: float = 0.03

    def hears(self, mood: Mood) -> Mood:
        """The mood as this listener hears the name."""
        return Mood(mood.name, *self.points[mood.name]) if mood.name in self.points else mood

    def fits_better(self, truth: Mapping[str, Any], a: EditPlan, b: EditPlan, mood: Mood, rng: np.random.Generator) -> str:
        """``"a"``, ``"b"`` or ``"tie"``: which edit fits the mood better to this listener."""
        own = self.hears(mood)
        d = true_mood_distance(truth, b, own) - true_mood_distance(truth, a, own)
        if abs(d) < self.tie_margin:
            return "tie"
        return "a" if rng.random() < 1.0 / (1.0 + np.exp(-d / self.noise)) else "b"
