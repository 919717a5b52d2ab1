"""Fit the mood model (:mod:`editor_rl.audio.mood`) and write its weights into the package.

Synthetic songs made with ``synth.moods`` (each section kind has a mood, recorded in the truth
file) are analysed with the default analysis; every beat's mood descriptors, standardised within
its song, are regressed on the true arousal and valence of the section it lies in by a small
network (scikit-learn's MLP: one hidden layer, ReLU, L2 ``--alpha``, early stopping; its weights are
written as JSON and run in NumPy). A second
set of songs, never fitted, is scored: per-beat correlation and mean error for each axis, and how
often a section's mean estimate is nearest its own true mood among the song's five.

Run:  .venv/bin/python scripts/fit_mood_model.py [--n 40] [--seed 4100] [--heldout 20]
      [--heldout-seed 4200] [--hidden 32] [--alpha 1.0] [--out editor_rl/audio/models/mood.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from editor_rl.audio.analysis import analyze_file
from editor_rl.audio.mood import DESCRIPTORS, MODEL_FILE, MoodModel, mood_descriptors, predict_moods, standardise, truth_moods
from editor_rl.audio.synth import write_corpus
from editor_rl.config import Config, SynthConfig

ROOT = Path(__file__).resolve().parents[1]


def songs(n: int, *, seed: int, config: Config) -> list[tuple[np.ndarray, np.ndarray, dict, np.ndarray]]:
    """``n`` mood songs: (standardised descriptors, true moods per beat, truth, beat times)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(write_corpus(tmp, n=n, seed=seed, config=SynthConfig(moods=True))):
            a = analyze_file(path, config=config)
            truth = json.loads(path.with_suffix(".truth.json").read_text())
            mid = (a.beats_s + a.beat_ends_s) / 2
            out.append((standardise(mood_descriptors(a.features, tempo_bpm=a.tempo_bpm)), truth_moods(truth, mid), truth, mid))
            print(f"  {i + 1}/{n} {path.name}: {a.n_beats} beats", flush=True)
    return out


def fit(data, *, hidden: int, alpha: float, seed: int) -> MoodModel:
    """The network from descriptors to true (arousal, valence)."""
    from sklearn.neural_network import MLPRegressor

    x = np.concatenate([z for z, *_ in data])
    y = np.concatenate([t for _, t, *_ in data])
    net = MLPRegressor(hidden_layer_sizes=(hidden,), alpha=alpha, max_iter=3000, early_stopping=True, random_state=seed).fit(x, y)
    return MoodModel(tuple(zip(net.coefs_, net.intercepts_)))


def score(data, model: MoodModel) -> dict:
    """Held-out figures: per-beat r and mean absolute error per axis; section mood accuracy."""
    pred = [predict_moods(z, model) for z, *_ in data]
    p, t = np.concatenate(pred), np.concatenate([t for _, t, *_ in data])
    hits = total = 0
    for (z, true, truth, mid), est in zip(data, pred):
        moods = truth["section_moods"]
        names = list(moods)
        points = np.array([[moods[n]["arousal"], moods[n]["valence"]] for n in names])
        for s in truth["sections"]:
            inside = (mid >= s["start_s"]) & (mid < s["end_s"])
            if inside.sum() < 4:
                continue
            nearest = names[int(np.argmin(np.linalg.norm(points - est[inside].mean(axis=0), axis=1)))]
            hits += nearest == s["name"]
            total += 1
    return {"arousal_r": float(np.corrcoef(p[:, 0], t[:, 0])[0, 1]), "valence_r": float(np.corrcoef(p[:, 1], t[:, 1])[0, 1]),
            "arousal_mae": float(np.abs(p[:, 0] - t[:, 0]).mean()), "valence_mae": float(np.abs(p[:, 1] - t[:, 1]).mean()),
            "section_mood_accuracy": hits / max(total, 1), "sections": total, "songs": len(data)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=4100)
    ap.add_argument("--heldout", type=int, default=20)
    ap.add_argument("--heldout-seed", type=int, default=4200)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--out", default=str(MODEL_FILE))
    args = ap.parse_args()
    config = Config()
    print(f"fitting on {args.n} mood songs (seed {args.seed})", flush=True)
    train = songs(args.n, seed=args.seed, config=config)
    model = fit(train, hidden=args.hidden, alpha=args.alpha, seed=args.seed)
    print(f"scoring {args.heldout} held-out mood songs (seed {args.heldout_seed})", flush=True)
    held = songs(args.heldout, seed=args.heldout_seed, config=config)
    report = {"descriptors": list(DESCRIPTORS), "layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in model.layers],
              "train": score(train, model), "heldout": score(held, model), "settings": vars(args),
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip(),
              "command": "python scripts/fit_mood_model.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("train", "heldout")}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
