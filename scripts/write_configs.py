"""Write configs/quickstart.yaml (the embedded default, every field), configs/default.yaml (the larger
run: the default with the differences below), the Tune sweeps' and the real recordings' configs. Run after adding or changing a config field; the tests
check both files spell out every field.

    .venv/bin/python scripts/write_configs.py
"""

from pathlib import Path

import yaml

from editor_rl.config import Config

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ("# The embedded default configuration (editor-rl quickstart uses these values when no --config is given).\n"
              "# A test keeps this file equal to the dataclass defaults in editor_rl/config/, where each field is documented.\n")
DEFAULT = ("# A larger run: 32 synthetic songs of 2-4 minutes, the seeds' reward-model size (d 256, 3 layers) with 5 members,\n"
           "# 2 EnvRunners, 200 PPO iterations. Fields are documented in editor_rl/config/.\n")
LARGER = {
    "reward_model": {"d_model": 256, "n_layers": 3, "n_heads": 4, "d_ff": 1024, "ensemble": 5},
    "rl": {"num_env_runners": 2, "iterations": 200, "checkpoint_every": 10},
    "synth": {"min_seconds": 120.0, "max_seconds": 240.0},
    "corpus": {"store_dir": "runs/default/features"},
    "run": {"work_dir": "runs/default", "n_songs": 32, "n_heldout": 16, "n_validation": 8, "n_pairs": 5000},
}


TUNE_SMOKE = ("# A sweep small enough for 2 cores (at most 10 minutes): 4 PPO trials of 2 iterations over the learned/dense\n"
              "# mixture and the KL coefficient, one trial at a time. `editor-rl tune --config configs/tune_smoke.yaml`.\n")
SMOKE = {
    "synth": {"min_seconds": 25.0, "max_seconds": 35.0},
    "corpus": {"store_dir": "runs/tune_smoke/features"},
    "run": {"work_dir": "runs/tune_smoke", "num_cpus": 2},
    "rl": {"train_batch_size": 400, "minibatch_size": 200, "num_epochs": 2, "hidden": [64], "env_runner_cpus": 0.5, "vf_warmup_iterations": 1, "envs_per_env_runner": 2},
    "pool": {"num_cpus": 0.25},
    "eval": {"target_ratios": [0.5], "max_songs": 3},
    "tune": {"trials": 4, "iterations": 2, "scheduler": "fifo", "max_concurrent": 1, "synth_songs": 6, "pretrain_pairs": 300,
             "space": ["rl.w_learned=uniform(0.3, 0.95)", "rl.w_dense=uniform(0.05, 0.7)", "rl.kl_coeff=loguniform(0.005, 0.1)"]},
}
TUNE = ("# A cluster-sized sweep: 64 trials with ASHA over the dense weights, the learned/dense mixture, the KL coefficient and the\n"
        "# uncertainty penalty; 4 EnvRunners per trial, 8 trials at once. Point run.work_dir at your songs (songs/, validation/) and\n"
        "# rl.reward_checkpoint at your reward model. `ray job submit -- editor-rl tune --config configs/tune.yaml`.\n")
CLUSTER = {
    "corpus": {"store_dir": "runs/tune/features"},
    "run": {"work_dir": "runs/tune"},
    "rl": {"num_env_runners": 4, "train_batch_size": 4000},
    "tune": {"trials": 64, "iterations": 40, "scheduler": "asha", "max_concurrent": 8},
}
REAL_HEAD = ("# Real recordings: reward model and policy trained on the real training tracks plus synthetic songs, judged on the\n"
             "# held-out real tracks at 30 s and 60 s by every panel taste. `bash scripts/real_pipeline.sh` runs it end to end.\n")
REAL = {
    "corpus": {"store_dir": "runs/real/features"},
    "run": {"work_dir": "runs/real", "heldout_dir": "runs/real/validation"},
    "eval": {"target_seconds": [30.0, 60.0], "max_songs": 4},
}


def main() -> None:
    base = Config().to_dict()
    write = lambda name, head, diff: (ROOT / "configs" / name).write_text(  # noqa: E731
        head + yaml.safe_dump({s: {**f, **diff.get(s, {})} for s, f in base.items()}, sort_keys=False))
    write("quickstart.yaml", QUICKSTART, {})
    write("default.yaml", DEFAULT, LARGER)
    write("tune_smoke.yaml", TUNE_SMOKE, SMOKE)
    write("tune.yaml", TUNE, CLUSTER)
    write("real.yaml", REAL_HEAD, REAL)
    print("wrote configs/quickstart.yaml, default.yaml, tune_smoke.yaml, tune.yaml and real.yaml")


if __name__ == "__main__":
    main()
