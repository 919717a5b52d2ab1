"""Edit-level descriptors: the numbers a listener reacts to, computed from the song's analysis alone.

The reward model's explicit path (:mod:`editor_rl.rewards.model`) scores an edit partly by a
weighted sum of these, so a handful of judgements can already say how much a listener cares about,
say, cuts against length. Every descriptor is a pure function of the analysis (beats, bars,
phrases, the structure of :mod:`editor_rl.audio.structure`, per-beat features), the edit's beat
order and fade, and the target (when there is one); none reads a truth file.

=====================  =====================================================================
name                   meaning
=====================  =====================================================================
len_err                (output − target) / target (0 without a target)
abs_len_err            |len_err|
len_ratio              output / song
keep_ratio             share of the song's beats played
seams                  number of jumps in the source
seams_per_min          jumps per minute of output
off_bar_seams          jumps that leave before a bar end or land off a downbeat
on_bar_share           share of jumps on bar lines (1 with no jumps)
on_phrase_share        share of jumps leaving at a phrase end and landing on a phrase start
backward_jumps         jumps to an earlier point of the song (loops and repeats)
repeated_share         share of output beats replaying a beat already played
starts_at_start        1 if the edit starts at the song's first beat
starts_on_phrase       1 if it starts at a phrase start
ends_at_end            1 if it ends with the song's own last beat
ends_on_phrase         1 if it ends at a phrase end (before a phrase start)
ends_mid_bar           1 if it ends inside a bar
fades_out              1 if the render fades out
hook_kept              share of the hook's beats played (up to what the output can hold)
loud_kept              share of the song's loudest third of beats (4-beat loudness) played, likewise:
                       the peak the song builds to, a chorus in most songs
sections_kept          share of the song's sections of which something is played
labels_kept            share of the song's repetition classes of which something is played
energy_arc             correlation of the edit's loudness contour with the song's (both
                       resampled to 16 points; 0 when either is flat)
end_loudness           loudness of the last bar relative to the song's last bar, dB / 10
seam_timbre            mean timbre similarity across jumps (1 with no jumps)
seam_timbre_min        lowest timbre similarity across a jump
seam_harmony           mean chroma similarity across jumps
seam_loudness          mean |loudness jump| across jumps, dB / 10
seam_loudness_max      largest loudness jump, dB / 10
=====================  =====================================================================
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.audio.features import FEATURE_NAMES

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "len_err", "abs_len_err", "len_ratio", "keep_ratio", "seams", "seams_per_min", "off_bar_seams", "on_bar_share", "on_phrase_share",
    "backward_jumps", "repeated_share", "starts_at_start", "starts_on_phrase", "ends_at_end", "ends_on_phrase", "ends_mid_bar", "fades_out",
    "hook_kept", "loud_kept", "sections_kept", "labels_kept", "energy_arc", "end_loudness", "seam_timbre", "seam_timbre_min", "seam_harmony",
    "seam_loudness", "seam_loudness_max",
)
N_DESCRIPTORS = len(DESCRIPTOR_NAMES)
_CHROMA = slice(FEATURE_NAMES.index("chroma_mean_C"), FEATURE_NAMES.index("chroma_mean_B") + 1)
_MFCC = slice(FEATURE_NAMES.index("mfcc_mean_1"), FEATURE_NAMES.index("mfcc_mean_19") + 1)
_RMS = FEATURE_NAMES.index("rms_db_mean")


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def _contour(loudness: np.ndarray, points: int = 16) -> np.ndarray:
    return np.interp(np.linspace(0, len(loudness) - 1, points), np.arange(len(loudness)), loudness)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


class SongConstants(NamedTuple):
    """What the descriptors read of one song, the same for every edit of it (:func:`song_constants`).

    Attributes
    ----------
    durations : np.ndarray [shape=(n,)]
        Each beat's length, seconds.
    loud : np.ndarray [shape=(n,)]
        Each beat's loudness, dB.
    peak : np.ndarray [shape=(n,), dtype=bool]
        Beats in the song's loudest third (4-beat loudness).
    timbre, harmony : np.ndarray [shape=(n, 19)], [shape=(n, 12)]
        Centred unit MFCC and chroma vectors.
    contour : np.ndarray [shape=(16,)]
        The song's loudness contour.
    n_labels : int
        The structure's repetition classes.
    """

    durations: np.ndarray
    loud: np.ndarray
    peak: np.ndarray
    timbre: np.ndarray
    harmony: np.ndarray
    contour: np.ndarray
    n_labels: int


def song_constants(analysis) -> SongConstants:
    """The per-song part of every edit's descriptors, computed once (see :class:`SongConstants`)."""
    a = analysis
    loud = a.features[:, _RMS].astype(np.float64)
    bar_loud = np.convolve(loud, np.ones(4) / 4, mode="full")[3:]  # mean of the 4 beats from each beat on
    return SongConstants(durations=a.beat_ends_s - a.beats_s, loud=loud, peak=bar_loud >= np.quantile(bar_loud, 2 / 3),
                         timbre=_unit(a.features[:, _MFCC].astype(np.float64)), harmony=_unit(a.features[:, _CHROMA].astype(np.float64)),
                         contour=_contour(loud), n_labels=len(np.unique(a.structure.label)))


def descriptors(analysis, order: Sequence[int], *, fade_out: bool, target_seconds: float | None,
                constants: SongConstants | None = None) -> np.ndarray:
    """The descriptor vector of one edit (see the module docstring for each entry).

    Parameters
    ----------
    analysis : SongAnalysis
    order : sequence of int
        Source beat played at each output beat.
    fade_out : bool
        Whether the edit ends with a fade.
    target_seconds : float or None
        The length asked for, if known.
    constants : SongConstants, optional
        ``song_constants(analysis)``, if already computed (many edits of one song).

    Returns
    -------
    d : np.ndarray [shape=(28,), dtype=float32]
    """
    a = analysis
    c = constants if constants is not None else song_constants(a)
    o = np.asarray(order, dtype=np.int64)
    n = a.n_beats
    out_s = float(c.durations[o].sum())
    err = (out_s - target_seconds) / target_seconds if target_seconds else 0.0
    prev, nxt = o[:-1], o[1:]
    jumps = np.flatnonzero(nxt != prev + 1)
    i, j = prev[jumps], nxt[jumps]
    leaves_bar = (i + 1 >= n) | (a.bar_pos[np.minimum(i + 1, n - 1)] == 0)
    on_bar = leaves_bar & (a.bar_pos[j] == 0)
    leaves_phrase = (i + 1 >= n) | (a.phrase_pos[np.minimum(i + 1, n - 1)] == 0)
    on_phrase = leaves_phrase & (a.phrase_pos[j] == 0)
    seen = np.zeros(n, dtype=bool)
    seen[o] = True
    repeated = len(o) - int(seen.sum())  # output beats replaying a beat already played
    st = a.structure
    hook_total = int(st.hook.sum())
    hook_kept = float(st.hook[seen].sum()) / max(1, min(hook_total, len(o))) if hook_total else 1.0
    loud, peak = c.loud, c.peak
    last = o[-1]
    vals = {
        "len_err": err, "abs_len_err": abs(err), "len_ratio": out_s / a.duration_s, "keep_ratio": float(seen.mean()),
        "seams": float(len(jumps)), "seams_per_min": 60.0 * len(jumps) / max(out_s, 1e-6), "off_bar_seams": float((~on_bar).sum()),
        "on_bar_share": float(on_bar.mean()) if len(jumps) else 1.0, "on_phrase_share": float(on_phrase.mean()) if len(jumps) else 1.0,
        "backward_jumps": float((j <= i).sum()), "repeated_share": repeated / len(o),
        "starts_at_start": float(o[0] == 0), "starts_on_phrase": float(a.phrase_pos[o[0]] == 0 or o[0] == 0),
        "ends_at_end": float(last == n - 1), "ends_on_phrase": float(last == n - 1 or a.phrase_pos[min(last + 1, n - 1)] == 0),
        "ends_mid_bar": float(last != n - 1 and a.bar_pos[min(last + 1, n - 1)] != 0), "fades_out": float(fade_out),
        "hook_kept": min(1.0, hook_kept), "loud_kept": min(1.0, float(peak[seen].sum()) / max(1, min(int(peak.sum()), len(o)))), "sections_kept": len(np.unique(st.section[seen])) / st.n_sections,
        "labels_kept": len(np.unique(st.label[seen])) / c.n_labels,
        "energy_arc": _corr(_contour(loud[o]), c.contour), "end_loudness": float(loud[o[-4:]].mean() - loud[-4:].mean()) / 10.0,
    } | _seam_likeness(c, i, j, n_beats=n)
    return np.array([vals[k] for k in DESCRIPTOR_NAMES], dtype=np.float32)


def _seam_likeness(c: SongConstants, i: np.ndarray, j: np.ndarray, *, n_beats: int) -> dict[str, float]:
    """How alike each seam's two sides are — timbre, harmony, loudness — between the beat jumped to
    (``j``) and the one that would have come next (after ``i``); a seamless edit scores as alike."""
    timbre, harmony, loud = c.timbre, c.harmony, c.loud
    ref = np.minimum(i + 1, n_beats - 1)
    t_sim = (timbre[ref] * timbre[j]).sum(axis=1) if len(j) else np.ones(1)
    h_sim = (harmony[ref] * harmony[j]).sum(axis=1) if len(j) else np.ones(1)
    l_jump = np.abs(loud[j] - loud[ref]) / 10.0 if len(j) else np.zeros(1)
    return {"seam_timbre": float(t_sim.mean()), "seam_timbre_min": float(t_sim.min()), "seam_harmony": float(h_sim.mean()),
            "seam_loudness": float(l_jump.mean()), "seam_loudness_max": float(l_jump.max())}
