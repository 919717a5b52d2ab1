"""Song structure against the synthetic songs' true sections (:mod:`editor_rl.audio.structure`)."""

import json
import sys
from pathlib import Path

import mir_eval
import numpy as np

from editor_rl.audio.structure import phrase_classes, song_structure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_structure import iou  # noqa: E402


def test_sections_and_the_chorus_of_the_synthetic_songs(synth_corpus, analyses):
    """Boundaries within a bar of the true ones and the hook on the true chorus, on the session's songs."""
    f, overlap = [], []
    for path, a in zip(synth_corpus, analyses):
        truth = json.loads(path.with_suffix(".truth.json").read_text())
        s = a.structure
        bar_s = 4 * 60.0 / a.tempo_bpm
        ref = np.array([x["start_s"] for x in truth["sections"] if x["start_s"] > bar_s / 2])
        est = a.beats_s[s.starts][a.beats_s[s.starts] > bar_s / 2]
        f.append(mir_eval.onset.f_measure(ref, est, window=bar_s)[0])
        chorus = [(x["start_s"], x["end_s"]) for x in truth["sections"] if x["name"] == "chorus"]
        overlap.append(iou(s.hook, a.beats_s, a.beat_ends_s, chorus))
        assert s.starts[0] == 0 and (np.diff(s.starts) > 0).all() and (a.phrase_pos[s.starts[1:]] == 0).all()  # sections start on phrases
    assert np.mean(f) >= 0.8 and np.mean(overlap) >= 0.6, (np.round(f, 2), np.round(overlap, 2))


def test_phrases_that_sound_alike_share_a_class_wherever_they_are():
    rng = np.random.default_rng(0)
    quiet, loud = rng.normal(0, 0.05, 13), rng.normal(3, 0.05, 13)
    sound = np.stack([quiet, quiet, loud, loud, quiet, loud, loud]) + rng.normal(0, 0.01, (7, 13))
    classes = phrase_classes(sound)
    assert list(classes == classes[0]) == [True, True, False, False, True, False, False]
    assert len(phrase_classes(sound[:1])) == 1


def test_a_song_that_never_changes_is_one_section(analyses):
    a = analyses[0]
    flat = np.repeat(a.features[:1], a.n_beats, axis=0)
    s = song_structure(flat, a.phrase_pos)
    assert s.n_sections == 1 and s.hook.all()
