"""Can bar starts be learned from madmom? Hand-weighted bar evidence against models fit to madmom's
downbeats of the real *training* tracks, from the same per-beat descriptors
(:func:`editor_rl.audio.downbeats.bar_descriptors`); held-out tracks are never read.

Each of our beats within 70 ms of one of madmom's beats is labelled by madmom's bar position there
(1 = bar start); beats madmom does not confirm are left out, as are tracks where madmom's tempo is
not steady or its bars are not in 4. Two models, each decoded by the same Viterbi
(:func:`editor_rl.audio.beats.bar_positions`) as the hand-weighted evidence:

- ``logistic``: P(bar start) per beat, class-balanced, each track counting once;
- ``phase ranking``: a linear score per beat summed over each of the four bar phases of a 32-beat
  window, softmax over the phases, cross-entropy against madmom's phase (the decision the Viterbi
  makes, trained directly).

Scored by leave-one-track-out over the training tracks (each fit without the track it is scored
on), with and without 20 synthetic songs (their true bars) added to every fit: downbeat F
(mir_eval) against madmom's, over all tracks and over those where madmom confirms ≥ 80 % of our
beats (there the bar phase is the only question).

    .venv/bin/pip install -e '.[reference]'   # madmom's tracks are cached in .cache/madmom
    .venv/bin/python bench/bench_downbeat_learning.py [--synthetic 20] [--run-madmom]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import mir_eval
import numpy as np
from scipy.optimize import minimize

from editor_rl.audio import downbeats
from editor_rl.audio.analysis import beat_grid
from editor_rl.audio.beats import bar_positions
from editor_rl.audio.io import Audio, decode_audio
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from reference_trackers import madmom_beats, madmom_cached, steady  # noqa: E402

MATCH_S = 0.07
WINDOW = 32


@dataclass(frozen=True)
class Track:
    """One song's descriptors and labels."""

    name: str
    beats_s: np.ndarray  # (n,) our beats, s
    X: np.ndarray  # (n, len(NAMES))
    label: np.ndarray  # (n,) 1 bar start, 0 other beat, -1 not confirmed by the reference
    ref_downbeats_s: np.ndarray

    @property
    def confirmed(self) -> float:
        return float(np.mean(self.label >= 0))


def _labels(beats_s: np.ndarray, ref_beats: np.ndarray, ref_down: np.ndarray) -> np.ndarray:
    j = np.clip(np.searchsorted(ref_beats, beats_s), 1, len(ref_beats) - 1)
    near = np.where(np.abs(beats_s - ref_beats[j - 1]) < np.abs(beats_s - ref_beats[j]), ref_beats[j - 1], ref_beats[j])
    return np.where(np.abs(beats_s - near) <= MATCH_S, np.isin(near, ref_down).astype(int), -1)


def real_tracks(root: Path, cfg: Config, *, run_madmom: bool) -> list[Track]:
    """Training tracks with madmom's beats, a steady tempo and bars of 4."""
    out = []
    for p in sorted(root.glob("*")):
        if p.suffix not in (".ogg", ".flac", ".wav", ".mp3"):
            continue
        if not run_madmom and not madmom_cached(p):
            print(f"  {p.name}: left out (madmom's beats not cached; --run-madmom computes them)", file=sys.stderr)
            continue
        ref_beats, ref_down, _ = madmom_beats(p)
        bars = np.diff(np.flatnonzero(np.isin(ref_beats, ref_down)))
        if not steady(ref_beats) or len(bars) == 0 or np.median(bars) != 4:
            print(f"  {p.name}: left out (madmom's tempo not steady or bars not in 4)", file=sys.stderr)
            continue
        grid = beat_grid(decode_audio(p), config=cfg, name=p.name)
        out.append(Track(p.name, grid.beats_s, grid.descriptors, _labels(grid.beats_s, ref_beats, ref_down), ref_down))
    return out


def synthetic_tracks(n: int, cfg: Config) -> list[Track]:
    """Synthetic songs (seeds apart from the other benchmarks' and the tests') with their true bars."""
    out = []
    for i in range(n):
        samples, truth = synthesize_song(seed=700_000 + i)
        grid = beat_grid(Audio(samples, truth.sample_rate, f"synth_{i}.wav"), config=cfg)
        down = np.asarray(truth.downbeats_s)
        out.append(Track(f"synth_{i}", grid.beats_s, grid.descriptors, _labels(grid.beats_s, np.asarray(truth.beats_s), down), down))
    return out


def _softmax_fit(S: np.ndarray, y: np.ndarray, w: np.ndarray, *, l2: float) -> np.ndarray:
    """Weights θ [shape=(d,)] of a softmax over S @ θ, S [shape=(m, k, d)], classes y [shape=(m,)]."""
    w = w / w.sum()
    rows = np.arange(len(y))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = S @ theta
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = p.copy()
        g[rows, y] -= 1.0
        return -(w * np.log(p[rows, y] + 1e-12)).sum() + 0.5 * l2 * theta @ theta, np.einsum("m,mk,mkd->d", w, g, S) + l2 * theta

    return minimize(loss, np.zeros(S.shape[2]), jac=True, method="L-BFGS-B").x


def fit_logistic(tracks: list[Track], *, l2: float = 1e-3) -> np.ndarray:
    """Per-beat logistic regression (two-class softmax on [0, x·θ + b]); returns θ with the bias last."""
    X = np.concatenate([t.X[t.label >= 0] for t in tracks])
    X = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    y = np.concatenate([t.label[t.label >= 0] for t in tracks])
    w = np.concatenate([np.full(int((t.label >= 0).sum()), 1.0 / max(int((t.label >= 0).sum()), 1)) for t in tracks])
    for c in (0, 1):  # balanced classes
        w = np.where(y == c, w * 0.5 / max(w[y == c].sum(), 1e-12), w)
    S = np.stack([np.zeros_like(X), X], axis=1)
    return _softmax_fit(S, y, w, l2=l2)


def fit_phase_ranking(tracks: list[Track], *, l2: float = 1e-3) -> np.ndarray:
    """A per-beat score θ whose sum over each bar phase of a window picks madmom's phase."""
    S, y, w = [], [], []
    for t in tracks:
        wins = []
        for s in range(0, len(t.label) - WINDOW + 1, WINDOW // 2):
            lab = t.label[s:s + WINDOW]
            votes = np.bincount(np.flatnonzero(lab == 1) % 4, minlength=4)
            if np.mean(lab >= 0) < 0.8 or votes.sum() < 3 or votes.max() < 0.8 * votes.sum():
                continue
            wins.append((np.stack([t.X[s:s + WINDOW][k::4].mean(axis=0) for k in range(4)]), int(votes.argmax())))
        if not wins:
            continue
        S += [x for x, _ in wins]
        y += [c for _, c in wins]
        w += [1.0 / len(wins)] * len(wins)
    return _softmax_fit(np.stack(S), np.asarray(y), np.asarray(w), l2=l2)


def downbeat_f(track: Track, evidence: np.ndarray) -> float:
    """mir_eval F of the Viterbi-decoded bar starts against the reference's."""
    est = track.beats_s[bar_positions(evidence, beats_per_bar=4) == 0]
    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(track.ref_downbeats_s), mir_eval.beat.trim_beats(est)))


def leave_one_out(real: list[Track], extra: list[Track]) -> dict[str, np.ndarray]:
    """Downbeat F per real track: hand-weighted, and each model fit without that track."""
    out = {"hand-weighted": [], "logistic": [], "phase ranking": []}
    for i, t in enumerate(real):
        rest = [u for j, u in enumerate(real) if j != i] + extra
        logistic = fit_logistic(rest)
        out["hand-weighted"].append(downbeat_f(t, downbeats.heuristic_evidence(t.X)))
        out["logistic"].append(downbeat_f(t, t.X @ logistic[:-1] + logistic[-1]))
        out["phase ranking"].append(downbeat_f(t, t.X @ fit_phase_ranking(rest)))
    return {k: np.asarray(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=str(ROOT / ".cache" / "real-music" / "train"))
    ap.add_argument("--synthetic", type=int, default=20, help="synthetic songs added to every fit")
    ap.add_argument("--run-madmom", action="store_true", help="run madmom on tracks it has not seen (about 1/3 of real time)")
    args = ap.parse_args()
    cfg = Config()
    real = real_tracks(Path(args.train), cfg, run_madmom=args.run_madmom)
    synth = synthetic_tracks(args.synthetic, cfg)
    good = np.array([t.confirmed >= 0.8 for t in real])
    print(f"\n{len(real)} real training tracks ({good.sum()} with ≥ 80 % of our beats confirmed by madmom), leave-one-track-out\n")
    print("| fit on | evidence | downbeat F, all tracks | downbeat F, beats confirmed |\n|---|---|---|---|")
    results = {}
    for fit_on, extra in (("real", []), (f"real + {len(synth)} synthetic", synth)):
        scores = leave_one_out(real, extra)
        results[fit_on] = {k: v.tolist() for k, v in scores.items()}
        for name, f in scores.items():
            print(f"| {fit_on} | {name} | {f.mean():.3f} | {f[good].mean():.3f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "downbeat_learning.json").write_text(json.dumps({"tracks": [t.name for t in real], "confirmed": [t.confirmed for t in real], "downbeat_f": results}, indent=1))


if __name__ == "__main__":
    main()
