"""Active learning: ask raters about the pairs the current reward model is least sure of.

:func:`pair_uncertainty` turns the members' scores of two edits into P(a ≻ b) and an uncertainty in
[0, 1]: half from how close the mean P is to ½, half from how much the ensemble's members disagree
about it (their spread; independent members make it mean something). :func:`rescore_pairs` refreshes
every live pair of a preference store with the current model, so ``/api/feedback/samples`` serves
the pairs a judgement teaches most, whichever model made the candidates.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.edit.plan import EditPlan
from editor_rl.rewards.sequence import edit_sequence


def pair_uncertainty(members_a: np.ndarray, members_b: np.ndarray) -> tuple[float, float]:
    """P(a ≻ b) and the uncertainty of that answer.

    Parameters
    ----------
    members_a, members_b : np.ndarray [shape=(E,)]
        Each member's score of the two edits.

    Returns
    -------
    p_a : float
    uncertainty : float
        In [0, 1]: ``0.5 · (1 − |2p − 1|) + 0.5 · min(1, 4 · std over members of p)``.
    """
    p = 1.0 / (1.0 + np.exp(-(np.asarray(members_a) - np.asarray(members_b))))
    mean = float(p.mean())
    return mean, 0.5 * (1.0 - abs(2.0 * mean - 1.0)) + 0.5 * min(1.0, 4.0 * float(p.std()))


def rescore_pairs(store, scorer, analyses: Mapping[str, SongAnalysis]) -> int:
    """Refresh P(a) and the uncertainty of every live pair whose song is in ``analyses``; returns how many.

    Parameters
    ----------
    store : PreferenceStore
    scorer : RewardScorer
    analyses : mapping of song id to SongAnalysis
    """
    rows = [p for p in store.live_pairs() if p.song_id in analyses]
    if not rows:
        return 0
    ids = sorted({c for p in rows for c in (p.a_id, p.b_id)})
    cands = {c: store.candidate(c) for c in ids}
    seqs = [edit_sequence(analyses[cands[c].song_id], EditPlan.from_edl(cands[c].edl), target_seconds=cands[c].target_seconds) for c in ids]
    members = dict(zip(ids, scorer.score_members(seqs)))
    for pair in rows:
        p, u = pair_uncertainty(members[pair.a_id], members[pair.b_id])
        store.add_pair(pair._replace(p_model_a=p, uncertainty=u))
    for c in ids:
        m = members[c]
        store.add_candidate(cands[c]._replace(reward=float(m.mean()), reward_std=float(m.std())))
    return len(rows)
