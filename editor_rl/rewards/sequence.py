"""An edit as the reward model reads it (pure NumPy, no torch).

Each output beat carries the source beat's 125 features, two seam descriptors (1 if it follows its
predecessor in the source, else 0; and the look-ahead distance ``1 − cos`` between it and what
would naturally have come next), six structure descriptors (:func:`structure_tokens`: in the song's
hook, already played earlier in the edit, first beat of a section, its section's class recurs in the
song, in the song's final bar, the section's place in the song 0…1) and the token of the action
that produced it (:func:`beat_tokens`). A context vector carries the edit's length relative to the song and to the
requested target, and the edit-level descriptors of :mod:`editor_rl.rewards.descriptors` travel
along for the model's explicit path.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.features import FEATURE_DIM
from editor_rl.edit.actions import N_ACTIONS, Action, EditGrid, EditState, apply_action
from editor_rl.edit.plan import EditPlan
from editor_rl.errors import EditorRLError
from editor_rl.rewards import dense
from editor_rl.rewards.descriptors import SongConstants, descriptors, song_constants

PAD_TOKEN = N_ACTIONS  # 9
N_TOKENS = N_ACTIONS + 1
N_STRUCTURE = 6
INPUT_DIM = FEATURE_DIM + 2 + N_STRUCTURE
CONTEXT_DIM = 3


class EditSequence(NamedTuple):
    """One edit as the model reads it (unnormalised).

    Attributes
    ----------
    features : np.ndarray [shape=(L, 133), dtype=float32]
        Source-beat features, the two seam descriptors and the six structure descriptors, per output beat.
    tokens : np.ndarray [shape=(L,), dtype=int64]
        Action token per output beat.
    context : np.ndarray [shape=(3,), dtype=float32]
        Output length / song length, output length / target (1 if unknown), has-target flag.
    descriptors : np.ndarray [shape=(28,), dtype=float32]
        Edit-level descriptors (``DESCRIPTOR_NAMES``).
    """

    features: np.ndarray
    tokens: np.ndarray
    context: np.ndarray
    descriptors: np.ndarray


class SongInputs(NamedTuple):
    """What :func:`edit_sequence` reads of one song, the same for every edit of it (:func:`song_inputs`)."""

    tables: dense.SongTables
    grid: EditGrid
    constants: SongConstants
    structure: np.ndarray  # structure_flags(analysis)


def song_inputs(analysis: SongAnalysis) -> SongInputs:
    """The per-song part of every edit's model input, made once per analysis (``analysis.derived``)."""
    return analysis.derive("edit_sequence", lambda: SongInputs(dense.song_tables(analysis), EditGrid.of(analysis), song_constants(analysis),
                                                              structure_flags(analysis)))


def _tokens_from_order(order: Sequence[int], bar_pos: np.ndarray, *, fade_out: bool) -> np.ndarray:
    """Tokens when a plan carries no (replayable) actions: inferred from the jumps."""
    tok = np.full(len(order), int(Action.KEEP), dtype=np.int64)
    for k in range(len(order)):
        prev = order[k - 1] if k else -1
        if order[k] == prev + 1:
            continue
        if order[k] > prev + 1:
            tok[k] = int(Action.CUT_TO_BAR if bar_pos[order[k]] == 0 else Action.CUT)
        else:
            tok[k] = int(Action.LOOP_BEAT if order[k] == prev else Action.LOOP_BAR)
    if fade_out and len(tok):
        tok[-1] = int(Action.END)
    return tok


def beat_tokens(grid: EditGrid, plan: EditPlan, order: Sequence[int]) -> np.ndarray:
    """The action token of each output beat.

    Replays ``plan.actions``: a played beat gets the action that played it, unless a cut came
    just before it, in which case it gets that cut; the last beat of an edit that ENDed gets END.
    Plans without replayable actions get tokens inferred from the beat order.

    Returns
    -------
    tokens : np.ndarray [shape=(len(order),), dtype=int64]
    """
    try:
        acts = [int(Action[a]) for a in plan.actions]
    except KeyError:
        acts = []
    st = EditState()
    tokens: list[int] = []
    pending_cut = -1
    try:
        for a in acts:
            played = apply_action(grid, st, a)
            if a in (Action.CUT, Action.CUT_TO_BAR, Action.CUT_TO_PHRASE):
                pending_cut = a
            for _ in played:
                tokens.append(pending_cut if pending_cut >= 0 else a)
                pending_cut = -1
    except (IndexError, ValueError):
        st.order = []
    if not acts or st.order != list(order):
        return _tokens_from_order(order, grid.bar_pos, fade_out=plan.fade_out)
    out = np.array(tokens, dtype=np.int64)
    if st.ended and len(out):
        out[-1] = int(Action.END)
    return out


def structure_flags(analysis: SongAnalysis) -> np.ndarray:
    """What the structure says of each source beat (the per-song part of :func:`structure_tokens`).

    Returns
    -------
    flags : np.ndarray [shape=(n, 5), dtype=float32]
        Per source beat: in the hook; first beat of a section; its section's class recurs (two
        sections or more); in the song's final bar (from its last downbeat on); its section's index
        / (sections − 1).
    """
    st = analysis.structure
    starts = np.zeros(analysis.n_beats, dtype=bool)
    starts[st.starts] = True
    section_label = st.label[st.starts]
    recurring = np.isin(st.label, np.flatnonzero(np.bincount(section_label) >= 2))
    downbeats = np.flatnonzero(analysis.bar_pos == 0)
    final_bar = np.arange(analysis.n_beats) >= (downbeats[-1] if len(downbeats) else analysis.n_beats - 1)
    place = st.section / max(1, st.n_sections - 1)
    return np.stack([st.hook, starts, recurring, final_bar, place], axis=1).astype(np.float32)


def structure_tokens(analysis: SongAnalysis, order: np.ndarray, *, flags: np.ndarray | None = None) -> np.ndarray:
    """What the structure says of each output beat: where in the song's form it comes from.

    Parameters
    ----------
    analysis : SongAnalysis
    order : np.ndarray [shape=(L,), dtype=int64]
        The source beat played at each output beat.
    flags : np.ndarray [shape=(n, 5)], optional
        ``structure_flags(analysis)``, if already computed.

    Returns
    -------
    tokens : np.ndarray [shape=(L, 6), dtype=float32]
        Per output beat: the source beat is in the hook; it was already played earlier in the edit;
        it is the first beat of a section; its section's class recurs (two sections or more); it is
        in the song's final bar (from its last downbeat on); its section's index / (sections − 1).
    """
    f = flags if flags is not None else structure_flags(analysis)
    first_play = np.zeros(len(order), dtype=bool)
    first_play[np.unique(order, return_index=True)[1]] = True
    out = np.empty((len(order), 6), dtype=np.float32)
    out[:, 0] = f[order, 0]
    out[:, 1] = ~first_play
    out[:, 2:] = f[order, 1:]
    return out


def order_of(analysis: SongAnalysis, plan: EditPlan) -> list[int]:
    """The source beat played at each output beat (from the plan, or mapped from its segments)."""
    if plan.beat_order:
        return [int(b) for b in plan.beat_order]
    order: list[int] = []
    starts = analysis.beats_s
    for seg in plan.segments:
        first = int(np.argmin(np.abs(starts - seg.src_start_s)))
        last = int(np.searchsorted(starts, seg.src_end_s - 1e-3, side="right")) - 1
        order.extend(range(first, max(first, last) + 1))
    return order


def edit_sequence(analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float | None = None, tables: dense.SongTables | None = None, grid: EditGrid | None = None) -> EditSequence:
    """Turn an edit of ``analysis`` into the model's input.

    Parameters
    ----------
    analysis : SongAnalysis
    plan : EditPlan
    target_seconds : float or None
        The requested length, if known.
    tables : SongTables or None
        Tables to read instead of ``dense.song_tables(analysis)`` (made once per song otherwise, :func:`song_inputs`).
    grid : EditGrid or None
        A grid to read instead of ``EditGrid.of(analysis)`` (likewise).

    Raises
    ------
    EditorRLError
        The plan refers to beats the song does not have.
    """
    order = order_of(analysis, plan)
    if not order or max(order) >= analysis.n_beats or min(order) < 0:
        raise EditorRLError(f"edit of {analysis.song_id} refers to beats outside the song's {analysis.n_beats}")
    song = song_inputs(analysis)
    t = tables if tables is not None else song.tables
    grid = grid if grid is not None else song.grid
    idx = np.asarray(order)
    prev = np.concatenate([[idx[0] - 1], idx[:-1]])
    continuous = (idx == prev + 1).astype(np.float32)
    ref = np.clip(prev + 1, 0, analysis.n_beats - 1)
    look = np.where(continuous > 0, 0.0, 1.0 - np.einsum("ld,ld->l", t.timbre[ref], t.timbre[idx])).astype(np.float32)
    feats = np.concatenate([analysis.features[idx], continuous[:, None], look[:, None], structure_tokens(analysis, idx, flags=song.structure)], axis=1).astype(np.float32)
    out_s = float(grid.durations[idx].sum())
    ctx = np.array([out_s / analysis.duration_s, out_s / target_seconds if target_seconds else 1.0, 1.0 if target_seconds else 0.0], dtype=np.float32)
    desc = descriptors(analysis, order, fade_out=plan.fade_out, target_seconds=target_seconds, constants=song.constants)
    return EditSequence(features=feats, tokens=beat_tokens(grid, plan, order), context=ctx, descriptors=desc)
