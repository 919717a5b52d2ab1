"""Baseline editors: plans made by fixed rules, the bars a learned policy has to clear."""

from __future__ import annotations

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.edit.plan import EditPlan


def plan_from_order(analysis: SongAnalysis, order: list[int], actions: list[str], *, fade_out: bool) -> EditPlan:
    """An :class:`EditPlan` of ``analysis`` playing source beats in ``order``."""
    return EditPlan.from_beat_order(
        source=analysis.path, sample_rate=analysis.sample_rate, source_duration_s=analysis.duration_s,
        beat_starts_s=analysis.beats_s, beat_ends_s=analysis.beat_ends_s, beat_order=order, actions=actions, fade_out=fade_out,
    )


def every_other_phrase(analysis: SongAnalysis) -> EditPlan:
    """Keep the first phrase and every second phrase after it; cut the rest.

    Beats before the first phrase start (a pickup) are kept with the first phrase. The result is
    about half the song, with every cut on a phrase boundary.
    """
    phrase_index = np.cumsum(analysis.phrase_pos == 0) - 1  # -1 for a pickup before phrase 0
    keep = (phrase_index <= 0) | (phrase_index % 2 == 0)
    order = [int(i) for i in np.flatnonzero(keep)]
    actions = ["KEEP" if k else "CUT" for k in keep]
    return plan_from_order(analysis, order, actions, fade_out=True)
