"""Song structure against the synthetic songs' true sections: boundary F at ±1 bar and the hook's
overlap with the true chorus (:mod:`editor_rl.audio.structure`).

For each of ``--n`` synthetic songs (seeds of ``bench_beats.py``'s synthetic part, apart from the
tests'): the analysis's section starts (the song's own start left out) against the true section
starts, a hit within one bar (4 beats at the song's tempo), F by mir_eval; the hook's beats against
the true chorus's, intersection over union in seconds. Beside it, the "loudest quarter" that the
hook replaced: the quarter of the beats with the highest loudness. The structure's one threshold
was chosen on 20 other synthetic songs (``--seed 800000``); the default seeds are the figures.

    .venv/bin/python bench/bench_structure.py [--n 20] [--seed 900000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mir_eval
import numpy as np

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.audio.io import Audio
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config

ROOT = Path(__file__).resolve().parents[1]


def iou(mask: np.ndarray, beats_s: np.ndarray, ends_s: np.ndarray, intervals: list[tuple[float, float]]) -> float:
    """Intersection over union, in seconds, of the beats in ``mask`` and the time ``intervals``."""
    inside = np.array([[max(0.0, min(e, hi) - max(b, lo)) for lo, hi in intervals] for b, e in zip(beats_s, ends_s)]).sum(axis=1)
    length = ends_s - beats_s
    inter = inside[mask].sum()
    union = length[mask].sum() + sum(hi - lo for lo, hi in intervals) - inter
    return float(inter / union) if union > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="synthetic songs")
    ap.add_argument("--seed", type=int, default=900_000, help="first song's seed")
    args = ap.parse_args()
    cfg = Config()
    rows = []
    for i in range(args.n):
        samples, truth = synthesize_song(seed=args.seed + i)
        a = analyze_audio(Audio(samples, truth.sample_rate, f"synth_{i}.wav"), config=cfg, song_id=f"synth_{i}")
        s = a.structure
        bar_s = 4 * 60.0 / a.tempo_bpm
        ref = np.array([x["start_s"] for x in truth.sections if x["start_s"] > bar_s / 2])
        est = a.beats_s[s.starts][a.beats_s[s.starts] > bar_s / 2]
        f = float(mir_eval.onset.f_measure(ref, est, window=bar_s)[0]) if len(ref) and len(est) else float(len(ref) == len(est))
        chorus = [(x["start_s"], x["end_s"]) for x in truth.sections if x["name"] == "chorus"]
        loud = a.features[:, FEATURE_NAMES.index("rms_db_mean")]
        loudest = loud >= np.quantile(loud, 0.75)
        rows.append({"song": i, "true_sections": len(truth.sections), "found_sections": int(s.n_sections), "boundary_f": f,
                     "hook_iou": iou(s.hook, a.beats_s, a.beat_ends_s, chorus) if chorus else None,
                     "loudest_quarter_iou": iou(loudest, a.beats_s, a.beat_ends_s, chorus) if chorus else None})
    with_chorus = [r for r in rows if r["hook_iou"] is not None]
    print("| songs | true sections (mean) | found (mean) | boundary F at ±1 bar (mean) | (min) | hook IoU with the chorus | loudest quarter IoU |\n|---|---|---|---|---|---|---|")
    print(f"| {len(rows)} | {np.mean([r['true_sections'] for r in rows]):.1f} | {np.mean([r['found_sections'] for r in rows]):.1f} "
          f"| {np.mean([r['boundary_f'] for r in rows]):.3f} | {np.min([r['boundary_f'] for r in rows]):.3f} "
          f"| {np.mean([r['hook_iou'] for r in with_chorus]):.3f} | {np.mean([r['loudest_quarter_iou'] for r in with_chorus]):.3f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "structure.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
