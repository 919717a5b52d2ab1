"""Judges hear the song: truth files and reference annotations, never the analysis the model learns from;
the truth tastes (listeners outside the panel) on hand-made edits."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest

from editor_rl.audio.reference import heard_song
from editor_rl.edit.actions import ACTION_NAMES, EditGrid, actions_for_order
from editor_rl.edit.plan import plan_from_order
from editor_rl.errors import EditorRLError
from editor_rl.raters.rater import SimulatedRater
from editor_rl.raters.tastes import TRUTH_TASTES, song_view


def _plan(a, order):
    order = [int(x) for x in order]
    ended = order[-1] != a.n_beats - 1
    return plan_from_order(a, order, [ACTION_NAMES[x] for x in actions_for_order(EditGrid.of(a), order, ended=ended)], fade_out=ended)


def _sections(a, view):
    """{name: [beat indices]} of the song's true sections, in order."""
    return [(name, np.flatnonzero(view.section == k)) for k, name in enumerate(view.section_names)]


def test_view_hears_the_truth_not_the_analysis(analyses, truth, song):
    a = next(x for x in analyses if x.path == str(song))
    view = song_view(a)
    assert view.source == "truth"
    true_downbeats = np.asarray(truth["downbeats_s"])
    heard = a.beats_s[view.downbeat]
    assert np.all(np.min(np.abs(heard[:, None] - true_downbeats[None, :]), axis=1) <= 0.07)
    # An analysis that misplaces every bar line by one beat: the judge still hears the true ones.
    wrong = replace(a, bar_pos=(a.bar_pos + 1) % 4)
    judge = SimulatedRater("bar_lines", seed=0)
    downbeats = np.flatnonzero(view.downbeat)
    true_cut = _plan(wrong, list(range(downbeats[2])) + list(range(downbeats[6], downbeats[12])))  # leaves at a true bar end, lands on a true downbeat
    false_cut = _plan(wrong, list(range(downbeats[2] + 1)) + list(range(downbeats[6] + 1, downbeats[12] + 1)))  # on the analysis's (wrong) bar lines
    t = true_cut.duration_s
    assert judge.aspects(wrong, true_cut, target_seconds=t)["on_bar"] == 1.0
    assert judge.aspects(wrong, false_cut, target_seconds=t)["on_bar"] < 0.5
    assert song_view(replace(a, path="/nowhere/song.wav")).source == "analysis"  # neither truth nor reference


def test_reference_annotations_are_heard_from_the_cache(analyses, tmp_path):
    a = analyses[1]
    moved = tmp_path / "recording.wav"
    moved.write_bytes(open(a.path, "rb").read())  # a 'recording': the same audio, no truth file beside it
    truth = json.loads(open(a.path.replace(".wav", ".truth.json")).read())
    cache = tmp_path / "madmom"
    cache.mkdir()
    beats = np.asarray(truth["beats_s"])
    position = (np.arange(len(beats)) - int(np.argmin(np.abs(beats - truth["downbeats_s"][0])))) % 4 + 1
    digest = hashlib.sha256(moved.read_bytes()).hexdigest()
    (cache / f"{digest}.json").write_text(json.dumps({"beats": beats.tolist(), "position": position.tolist(), "seconds": 1.0, "duration_s": a.duration_s}))
    assert heard_song(moved) is None and heard_song(moved, references=tmp_path / "empty") is None
    heard = heard_song(moved, references=cache)
    assert heard.source == "reference" and len(heard.downbeats_s) == int((position == 1).sum()) and heard.sections == ()
    view = song_view(replace(a, path=str(moved)), references=cache)
    assert view.source == "reference" and view.downbeat.sum() == pytest.approx(len(heard.downbeats_s), abs=2)
    with pytest.raises(EditorRLError, match="chorus_whole.*true sections"):
        SimulatedRater("chorus_whole", references=cache).utility(replace(a, path=str(moved)), _plan(a, range(40)), target_seconds=10.0)


def test_truth_tastes_on_hand_made_edits(analyses):
    a = max(analyses, key=lambda x: x.n_beats)
    view = song_view(a)
    secs = _sections(a, view)
    n = a.n_beats
    chorus = next(b for name, b in secs if name == "chorus")
    intro = secs[0][1]
    assert secs[0][0] == "intro"
    # intro, then a whole chorus, then the song's final section to its end: every cut on a section boundary
    whole = _plan(a, list(intro) + list(chorus) + list(secs[-1][1]))
    # the same, but half of the chorus
    half = _plan(a, list(intro) + list(chorus[: len(chorus) // 2]) + list(secs[-1][1]))
    # a plain cut from the start, faded out inside a section
    plain = _plan(a, range(int(intro[-1]) + 1 + len(chorus) + 3))
    t = whole.duration_s
    r = {name: SimulatedRater(name, seed=0) for name in TRUTH_TASTES}
    aw, ah, ap = (r["chorus_whole"].aspects(a, p, target_seconds=t) for p in (whole, half, plain))
    assert aw["chorus_whole"] > ah["chorus_whole"] and aw["section_cuts"] == 1.0 > ah["section_cuts"] and ap["section_cuts"] < 1.0
    assert aw["final_bar"] == 1.0 and ap["final_bar"] == 0.0 and aw["intro"] == ap["intro"] == 1.0
    skip_intro = _plan(a, list(range(int(intro[-1]) + 1, int(intro[-1]) + 1 + len(plain.beat_order))))
    assert r["keeps_intro"].aspects(a, skip_intro, target_seconds=t)["intro"] == 0.0
    assert r["chorus_whole"].utility(a, whole, target_seconds=t) > r["chorus_whole"].utility(a, half, target_seconds=t)
    assert r["section_editor"].utility(a, whole, target_seconds=t) > r["section_editor"].utility(a, plain, target_seconds=t)
    assert r["own_final_bar"].utility(a, whole, target_seconds=t) > r["own_final_bar"].utility(a, plain, target_seconds=t)
    assert r["keeps_intro"].utility(a, plain, target_seconds=t) > r["keeps_intro"].utility(a, skip_intro, target_seconds=t)
    assert all(0.0 <= v <= 1.0 for v in aw.values())
    assert n == len(view.section)
