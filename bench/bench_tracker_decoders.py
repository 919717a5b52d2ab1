"""Is the learned tracker's decoder what keeps it from madmom's accuracy? The learned tracker's own
decoding (tempo by autocorrelation, Ellis's DP, the bar Viterbi) against madmom's DBN — the bar-pointer
model madmom decodes its own RNN with — over the same network activations, on the held-out real
tracks with a steady tempo, scored against madmom's reference (its RNN + DBN, cached).

Run:  .venv/bin/python bench/bench_tracker_decoders.py [--real .cache/real-music]

madmom's DBN reads two columns, a beat that is not a bar's first and a downbeat; the network's beat
column marks every beat, so the first column is ``beat − downbeat`` (clipped at 0). Decoding time
is per second of audio, the network's time left out (it is the same for all).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from editor_rl.audio import learned_tracker
from editor_rl.audio.io import decode_audio, to_analysis_signal
from editor_rl.audio.madmom_tracker import import_downbeats
from editor_rl.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_trackers import f_measure, madmom_beats, steady  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(ROOT / ".cache" / "real-music"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    bc = Config().beats
    dbn = import_downbeats().DBNDownBeatTrackingProcessor
    decoders = {
        "the learned tracker's own (the default)": lambda act: _ours(act, bc),
        "madmom's DBN, bars of 3 or 4": _madmom(dbn(beats_per_bar=[3, 4], fps=learned_tracker.FPS)),
        "madmom's DBN, bars of 4": _madmom(dbn(beats_per_bar=[4], fps=learned_tracker.FPS)),
    }
    files = sorted(p for p in (Path(args.real) / "heldout").iterdir() if p.suffix.lower() in (".ogg", ".flac", ".wav", ".mp3"))
    scores: dict[str, list[tuple[float, float, float]]] = {k: [] for k in decoders}
    seconds = 0.0
    for path in files:
        ref_beats, ref_down, _ = madmom_beats(path)
        if not steady(ref_beats):
            continue
        y = to_analysis_signal(decode_audio(path), sample_rate=learned_tracker.SAMPLE_RATE)
        act = learned_tracker.activations(y)
        seconds += len(y) / learned_tracker.SAMPLE_RATE
        for name, decode in decoders.items():
            t0 = time.perf_counter()
            beats, downbeats = decode(act)
            scores[name].append((f_measure(ref_beats, beats), f_measure(ref_down, downbeats), time.perf_counter() - t0))
        print(path.name, {k: tuple(round(x, 2) for x in v[-1][:2]) for k, v in scores.items()}, flush=True)
    print(f"\n{len(next(iter(scores.values())))} held-out tracks with a steady tempo, {seconds / 60:.1f} min\n")
    print("| decoder | beat F | downbeat F | tracks with beat F ≥ 0.9 | decoding, ms per s of audio |\n|---|---|---|---|---|")
    for name, rows in scores.items():
        a = np.array(rows)
        print(f"| {name} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | {np.mean(a[:, 0] >= 0.9):.2f} | {a[:, 2].sum() / seconds * 1000:.2f} |")


def _ours(act: np.ndarray, bc) -> tuple[np.ndarray, np.ndarray]:
    got = learned_tracker.decode(act, beats_per_bar=bc.beats_per_bar, min_bpm=bc.tempo_min_bpm, max_bpm=bc.tempo_max_bpm, tightness=bc.tightness)
    return got.beats_s, got.beats_s[got.bar_pos == 0]


def _madmom(processor):
    def decode(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = processor(np.stack([np.clip(act[:, 0] - act[:, 1], 0.0, 1.0), act[:, 1]], axis=1))
        return out[:, 0], out[out[:, 1].astype(int) == 1, 0]
    return decode


if __name__ == "__main__":
    main()
