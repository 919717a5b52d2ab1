"""Beat and downbeat accuracy: ours, librosa's and essentia's trackers against madmom's (the reference).

Run:  bash scripts/fetch_real_music.sh && .venv/bin/pip install -e '.[reference]' && \
      .venv/bin/python bench/bench_beats.py [--n 40] [--max-tracks 100] [--madmom]

What to expect: two tables. (1) Synthetic songs with ground truth: mean beat F-measure (mir_eval,
±70 ms) and downbeat F-measure for ours, and the beat F-measure of librosa's plain tracker, with
the median offset of the beats from the true ones; with ``--madmom`` also the analysis with
``beats.tracker: madmom`` and its speed. (2) The real corpus (Debian's game-music
packages in .cache/real-music, held-out tracks first): madmom's RNN + DBN downbeat tracker is the
reference (cached per file in .cache/madmom: it runs at a fraction of real time); tracks where
madmom's tempo is not steady are left out (see ``reference_trackers.steady``). Per tracker: beat F
against madmom's beats, downbeat F against madmom's downbeats (ours only: the others have none),
and speed in multiples of real time on one core, warm. Per-track figures go to stderr and
bench/results/beats.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import librosa
import numpy as np

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.io import Audio, decode_audio, to_analysis_signal
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_trackers import essentia_beats, f_measure, librosa_beats, madmom_beats, steady  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]



def _onset_offsets(beats: np.ndarray, onsets: np.ndarray, max_s: float = 0.1) -> np.ndarray:
    """Signed distance (beat − nearest onset) for beats with an onset within max_s."""
    if len(onsets) == 0:
        return np.zeros(0)
    j = np.clip(np.searchsorted(onsets, beats), 1, len(onsets) - 1)
    near = np.where(np.abs(beats - onsets[j - 1]) < np.abs(beats - onsets[j]), onsets[j - 1], onsets[j])
    d = beats - near
    return d[np.abs(d) <= max_s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="synthetic songs")
    ap.add_argument("--real", default=str(ROOT / ".cache" / "real-music"))
    ap.add_argument("--max-tracks", type=int, default=100, help="real tracks (held-out first; 0: synthetic songs only)")
    ap.add_argument("--madmom", action="store_true", help="also the analysis with beats.tracker=madmom on the synthetic songs")
    args = ap.parse_args()
    cfg = Config()
    mm = dataclasses.replace(cfg, beats=dataclasses.replace(cfg.beats, tracker="madmom"))
    sr = cfg.audio.sample_rate

    ours_f, ours_d, lib_f, ours_off, lib_off = [], [], [], [], []
    mm_f, mm_d, mm_off, mm_speed = [], [], [], []
    for i in range(args.n):
        samples, truth = synthesize_song(seed=900_000 + i)
        audio = Audio(samples, truth.sample_rate, f"synth_{i}.wav")
        a = analyze_audio(audio, config=cfg)
        y = to_analysis_signal(audio, sample_rate=sr)
        lib_beats = librosa.frames_to_time(librosa.beat.beat_track(y=y, sr=sr)[1], sr=sr)
        ours_f.append(f_measure(np.array(truth.beats_s), a.beats_s))
        ours_d.append(f_measure(np.array(truth.downbeats_s), a.downbeats_s))
        lib_f.append(f_measure(np.array(truth.beats_s), lib_beats))
        ours_off.append(_onset_offsets(a.beats_s, np.array(truth.beats_s), max_s=0.07))
        lib_off.append(_onset_offsets(lib_beats, np.array(truth.beats_s), max_s=0.07))
        if args.madmom:
            b, seconds = _timed(lambda: analyze_audio(audio, config=mm))
            mm_f.append(f_measure(np.array(truth.beats_s), b.beats_s))
            mm_d.append(f_measure(np.array(truth.downbeats_s), b.downbeats_s))
            mm_off.append(_onset_offsets(b.beats_s, np.array(truth.beats_s), max_s=0.07))
            mm_speed.append(audio.duration_s / seconds)
    print(f"## Synthetic songs (n={args.n}, ground truth)\n")
    print("| tracker | beat F (mean) | beat F (min) | downbeat F (mean) | beat − true beat, median ms |\n|---|---|---|---|---|")
    print(f"| editor-rl | {np.mean(ours_f):.3f} | {np.min(ours_f):.3f} | {np.mean(ours_d):.3f} | {1000 * np.median(np.concatenate(ours_off)):+.1f} |")
    print(f"| librosa beat_track | {np.mean(lib_f):.3f} | {np.min(lib_f):.3f} | — | {1000 * np.median(np.concatenate(lib_off)):+.1f} |")
    if args.madmom:
        print(f"| editor-rl, beats.tracker=madmom | {np.mean(mm_f):.3f} | {np.min(mm_f):.3f} | {np.mean(mm_d):.3f} | {1000 * np.median(np.concatenate(mm_off)):+.1f} |")
        print(f"\nbeats.tracker=madmom, whole analysis: {np.median(mm_speed):.1f}× real time (median; madmom's own threads)")

    if args.max_tracks > 0:
        real_corpus(Path(args.real), cfg=cfg, max_tracks=args.max_tracks, synthetic={"ours_f": ours_f, "ours_down_f": ours_d, "librosa_f": lib_f})


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def real_corpus(root: Path, *, cfg: Config, max_tracks: int, synthetic: dict) -> None:
    """Table 2: every tracker against madmom's beats and downbeats on the real corpus (tracks where
    madmom's tempo is steady), with each tracker's speed (× real time, one core, warm)."""
    tracks = sorted((root / "heldout").glob("*")) + sorted((root / "train").glob("*"))
    tracks = [t for t in tracks if t.suffix in (".ogg", ".flac", ".wav", ".mp3")][:max_tracks]
    if not tracks:
        print("\n(no real recordings: run scripts/fetch_real_music.sh first)")
        return
    sr = cfg.audio.sample_rate
    rows, speed = [], {"editor-rl": [], "librosa": [], "essentia": [], "madmom": []}
    analyze_audio(decode_audio(tracks[0]), config=cfg)  # warm
    for p in tracks:
        audio = decode_audio(p)
        ref_beats, ref_down, madmom_s = madmom_beats(p)
        if not steady(ref_beats):
            rows.append({"track": p.name, "split": p.parent.name, "duration_s": audio.duration_s, "steady": False})
            continue
        a, t_ours = _timed(lambda: analyze_audio(audio, config=cfg, song_id=p.stem))
        y = to_analysis_signal(audio, sample_rate=sr)
        lib, t_lib = _timed(lambda: librosa_beats(y, sr=sr))
        y44 = librosa.resample(y, orig_sr=sr, target_sr=44100) if sr != 44100 else y
        ess, t_ess = _timed(lambda: essentia_beats(y44))
        for name, t in (("editor-rl", t_ours), ("librosa", t_lib), ("essentia", t_ess), ("madmom", madmom_s)):
            speed[name].append(audio.duration_s / t)
        rows.append({"track": p.name, "split": p.parent.name, "duration_s": audio.duration_s, "steady": True,
                     "madmom_bpm": 60 / float(np.median(np.diff(ref_beats))), "ours_bpm": a.tempo_bpm,
                     "ours_beat_f": f_measure(ref_beats, a.beats_s), "ours_down_f": f_measure(ref_down, a.downbeats_s),
                     "librosa_beat_f": f_measure(ref_beats, lib), "essentia_beat_f": f_measure(ref_beats, ess)})
        r = rows[-1]
        print(f"  {p.name}: ours beat F {r['ours_beat_f']:.3f} downbeat F {r['ours_down_f']:.3f}; librosa {r['librosa_beat_f']:.3f}; essentia {r['essentia_beat_f']:.3f}",
              file=sys.stderr, flush=True)
    ok = [r for r in rows if r["steady"]]
    print(f"\n## Real recordings against madmom (RNN + DBN downbeats), {len(ok)} tracks with a steady tempo of {len(rows)}\n")
    print("| tracker | beat F mean | beat F min | tracks ≥ 0.9 | downbeat F mean | × real time (median, 1 core) |\n|---|---|---|---|---|---|")
    for name, key, down in (("editor-rl", "ours_beat_f", "ours_down_f"), ("librosa beat_track", "librosa_beat_f", None), ("essentia RhythmExtractor2013", "essentia_beat_f", None)):
        f = np.array([r[key] for r in ok])
        d = f"{np.mean([r[down] for r in ok]):.3f}" if down else "—"
        print(f"| {name} | {f.mean():.3f} | {f.min():.3f} | {np.mean(f >= 0.9):.0%} | {d} | {np.median(speed[name.split()[0]]):.0f} |")
    print(f"| madmom (reference) | 1 | 1 | 100% | 1 | {np.median(speed['madmom']):.2f} |")
    for split in ("heldout", "train"):
        part = [r for r in ok if r["split"] == split]
        if part:
            print(f"\n{split}: {len(part)} tracks, ours beat F {np.mean([r['ours_beat_f'] for r in part]):.3f}, downbeat F {np.mean([r['ours_down_f'] for r in part]):.3f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "beats.json").write_text(json.dumps({"synthetic": synthetic, "real": rows, "speed_x_realtime": {k: float(np.median(v)) for k, v in speed.items() if v}}, indent=1))


if __name__ == "__main__":
    main()
