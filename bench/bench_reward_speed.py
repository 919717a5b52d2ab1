"""Reward-model training speed, side by side with an earlier commit, on the same pairs and 2 cores.

Makes the quickstart's pretraining data (16 synthetic songs, 1 500 pairs labelled by the pretraining
mixture), then trains the quickstart-sized reward model with this tree's ``editor-rl reward train``
and with the one of ``--baseline`` (checked out into a temporary ``git worktree``, run with its own
code), alternating A B A B, three epochs each (``reward_train.max_epochs=3``, no early stop). Each
run's per-epoch seconds are read from its progress lines; the table gives their medians and the ratio.
Then a 400-label fine-tune from the pretrained model (this tree), end to end.

    .venv/bin/python bench/bench_reward_speed.py [--baseline 63ae9ec] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable)


def epochs(stderr: str) -> list[float]:
    """Seconds of every training epoch in a run's progress lines (either version's format)."""
    return [float(x) for x in re.findall(r"reward epoch\s+\d+(?:/\d+)?:.*\(([\d.]+) s\)", stderr)]


def train(tree: Path, prefs: Path, songs: Path, store: Path, out: Path, extra: list[str]) -> tuple[list[float], float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "2"}
    t0 = time.time()
    run = subprocess.run([str(EXE), "-m", "editor_rl.apps.cli", "reward", "train", "--preferences", str(prefs), "--songs", str(songs), "--out", str(out),
                          "--set", f"corpus.store_dir={store}", "--set", "reward_train.max_epochs=3", "--set", "reward_train.patience=10"] + extra,
                         capture_output=True, text=True, cwd=tree, env=env)
    if run.returncode != 0:
        raise SystemExit(f"{tree}: reward train failed:\n{run.stderr[-3000:]}")
    return epochs(run.stderr), time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="63ae9ec", help="commit to compare with (default: the start of this work)")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    from editor_rl.audio.synth import write_corpus
    from editor_rl.config import Config
    from editor_rl.corpus.store import FeatureStore, load_corpus
    from editor_rl.raters.rater import panel
    from editor_rl.preferences.records import write_jsonl
    from editor_rl.raters.synthetic import make_pairs
    from editor_rl.rewards.train import train_reward_model

    cfg = Config()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        songs = work / "songs"
        paths = write_corpus(songs, n=16, seed=0, config=cfg.synth)
        analyses = load_corpus(paths, store=FeatureStore(work / "features"), config=cfg)
        records = make_pairs(list(analyses.values()), n_pairs=1500, raters=panel(cfg.rater.pretrain_tastes, seed=0), config=cfg, seed=0)
        prefs = write_jsonl(work / "pairs.jsonl", records)
        base = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline], check=True, capture_output=True)
        try:
            rows = {"this tree": [], args.baseline: []}
            for k in range(args.runs):
                # each version analyses into its own store (their analysis versions differ)
                for name, tree, extra in (("this tree", ROOT, []), (args.baseline, base, [])):
                    ep, total = train(tree, prefs, songs, work / f"store-{name}", work / f"{k}-{name}.pt", extra)
                    rows[name] += ep
                    print(f"run {k + 1} {name}: epochs {[round(e, 2) for e in ep]} s, process {total:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        pre = train_reward_model(records, analyses, model_config=cfg.reward_model, train_config=cfg.reward_train, log=lambda m: None)
        from editor_rl.raters.rater import SimulatedRater

        tune = make_pairs(list(analyses.values()), n_pairs=400, raters=[SimulatedRater("keeps_ending", seed=9)], config=cfg, seed=9)
        t0 = time.time()
        tuned = train_reward_model(tune, analyses, train_config=cfg.reward_train, pretrained=pre, log=lambda m: None)
        fine_tune_s = time.time() - t0
    new, old = np.median(rows["this tree"]), np.median(rows[args.baseline])
    result = {"baseline": args.baseline, "epoch_s_this_tree": new, "epoch_s_baseline": old, "speedup": old / new, "pairs": 1500,
              "train_pairs_per_epoch": tuned.metrics["train_pairs"], "fine_tune_400_s": round(fine_tune_s, 1), "fine_tune_phase": tuned.metrics["best_phase"],
              "model": cfg.reward_model.__dict__, "epochs": rows}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reward_speed.json").write_text(json.dumps(result, indent=1))
    print(f"\n| figure | value |\n|---|---|\n| s per epoch, {args.baseline} (median of {len(rows[args.baseline])}) | {old:.2f} |\n"
          f"| s per epoch, this tree (median of {len(rows['this tree'])}) | {new:.2f} |\n| speed-up | {old / new:.1f}× |\n"
          f"| 400-label fine-tune from the pretrained model, s (whole call) | {fine_tune_s:.1f} |")


if __name__ == "__main__":
    main()
