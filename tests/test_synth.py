import json

import numpy as np

from editor_rl.audio.synth import SECTION_NAMES, synthesize_song, write_corpus
from editor_rl.config import SynthConfig


def test_deterministic_by_seed():
    a, ta = synthesize_song(seed=5)
    b, tb = synthesize_song(seed=5)
    c, _ = synthesize_song(seed=6)
    assert np.array_equal(a, b) and ta == tb
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_truth_is_consistent(truth):
    beats = np.array(truth["beats_s"])
    assert len(beats) % 8 == 0 and np.all(np.diff(beats) > 0)
    assert truth["downbeats_s"] == truth["beats_s"][::4]
    assert truth["phrase_starts_s"] == truth["beats_s"][::8]
    assert 70 <= truth["tempo_bpm"] <= 180
    names = [s["name"] for s in truth["sections"]]
    assert names[0] == "intro" and names[-1] == "outro" and set(names) <= set(SECTION_NAMES)
    assert {"verse", "chorus"} <= set(names)
    starts = [s["start_s"] for s in truth["sections"]]
    assert all(any(abs(s - p) < 1e-4 for p in truth["phrase_starts_s"]) for s in starts)


def test_sections_differ_in_loudness(song, truth):
    import soundfile as sf

    y, sr = sf.read(song)
    rms = {}
    for s in truth["sections"]:
        seg = y[int(s["start_s"] * sr) : int(s["end_s"] * sr)]
        rms.setdefault(s["name"], []).append(np.sqrt(np.mean(seg**2)))
    assert np.mean(rms["chorus"]) > 1.3 * np.mean(rms["intro"])


def test_write_corpus_files_and_stereo(tmp_path):
    cfg = SynthConfig(min_seconds=10, max_seconds=12)
    paths = write_corpus(tmp_path, n=2, seed=3, config=cfg)
    assert [p.name for p in paths] == ["song_000.wav", "song_001.wav"]
    t = json.loads((tmp_path / "song_001.truth.json").read_text())
    assert t["sample_rate"] == 44100 and t["seed"] == 3 * 100003 + 1
    samples, _ = synthesize_song(seed=t["seed"], config=cfg)
    assert samples.shape[1] == 2 and np.abs(samples).max() <= 0.91
