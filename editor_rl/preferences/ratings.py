"""Ratings that count: one rater's 1–5 scores of edits become comparisons the reward model trains on.

A rater who gives one edit of a song 5 stars and another edit of the same song, at the same target,
2 stars has said which they prefer. :func:`ratings_to_records` turns every such couple of one
rater's ratings into a :class:`~editor_rl.preferences.records.PreferenceRecord`: the edit with the
higher score wins, by a strength that grows with the gap; equal scores are a tie. The score is
``overall + (feel + quality) / 2`` (``overall`` counts double: it is the rater's own verdict; a rating
without ``feel`` uses ``quality`` for both). Ratings of edits of different songs or targets are never
compared (the scale of a rating is the rater's own, within one listening session).
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping

from editor_rl.preferences.records import Candidate, PreferenceRecord


def rating_score(r: Mapping) -> float:
    """The combined score of one rating (see the module docstring)."""
    feel = r.get("feel") if r.get("feel") is not None else r["quality"]
    return float(r["overall"]) + 0.5 * (float(feel) + float(r["quality"]))


def ratings_to_records(ratings: Iterable[Mapping]) -> list[PreferenceRecord]:
    """Comparisons implied by ratings.

    Parameters
    ----------
    ratings : iterable of mapping
        As :meth:`editor_rl.preferences.store.PreferenceStore.ratings` returns them: candidate_id,
        song_id, target_seconds, edl, rater_id, feel (or None), quality, overall.

    Returns
    -------
    list of PreferenceRecord
        ``source="human"``, ``pair_id`` ``rating:<rater>:<a>~<b>``; strength 1 for a gap of up to 1.5
        points, 2 up to 3, else 3.
    """
    groups: dict[tuple, list[Mapping]] = {}
    for r in ratings:
        groups.setdefault((r["rater_id"], r["song_id"], round(float(r["target_seconds"]), 2)), []).append(r)
    out = []
    for (rater, song, target), rs in sorted(groups.items()):
        for x, y in itertools.combinations(sorted(rs, key=lambda r: r["candidate_id"]), 2):
            gap = rating_score(x) - rating_score(y)
            pref = "tie" if gap == 0 else "a" if gap > 0 else "b"
            strength = 1 if abs(gap) <= 1.5 else 2 if abs(gap) <= 3 else 3
            out.append(PreferenceRecord(pair_id=f"rating:{rater}:{x['candidate_id']}~{y['candidate_id']}", song_id=song,
                                        a=Candidate(x["candidate_id"], dict(x["edl"])), b=Candidate(y["candidate_id"], dict(y["edl"])),
                                        preference=pref, strength=strength if pref != "tie" else 1, rater_id=rater, source="human", target_seconds=target))
    return out
