"""Ray Tune sweeps of the reward weights on the session's Ray: outputs, resume after SIGKILL, the reward level, bad spaces."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from editor_rl.config import load_config
from editor_rl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["tune.trials=4", "tune.iterations=2", "tune.scheduler=fifo", "tune.max_concurrent=1", "tune.synth_songs=0", "tune.pretrain_pairs=0",
         "rl.hidden=[32]", "rl.train_batch_size=300", "rl.minibatch_size=100", "rl.num_epochs=1", "rl.env_runner_cpus=0.5", "pool.num_cpus=0.25",
         "eval.target_ratios=[0.5]", "eval.max_songs=2", "run.num_cpus=2"]


@pytest.fixture
def sweep_dir(tmp_path, synth_corpus, tiny_checkpoint):
    work = tmp_path / "sweep"
    (work / "songs").mkdir(parents=True)
    (work / "validation").mkdir()
    for p in synth_corpus[:3]:
        shutil.copy(p, work / "songs" / p.name)
    for p in synth_corpus[3:5]:
        shutil.copy(p, work / "validation" / p.name)
    return work, [f"run.work_dir={work}", f"corpus.store_dir={work / 'features'}", f"rl.reward_checkpoint={tiny_checkpoint}"] + SWEEP


def test_a_tiny_sweep_writes_its_table_best_config_and_plot(ray_session, sweep_dir):
    from editor_rl.apps.tune import run_tune

    work, overrides = sweep_dir
    lines: list[str] = []
    out = run_tune(load_config(ROOT / "configs" / "tune_smoke.yaml", overrides=overrides), log=lines.append)
    import csv

    rows = list(csv.DictReader(open(work / "tune" / "results.csv")))
    assert len(rows) == 4 and all(r["status"] == "TERMINATED" and r["iterations"] == "2" for r in rows)
    assert all(0 <= float(r["heldout_win_rate"]) <= 1 for r in rows) and {"rl.w_learned", "rl.w_dense", "rl.kl_coeff"} <= set(rows[0])
    (default,) = [r for r in rows if r["default"] == "True"]  # the config's own weights ran as one trial: the baseline
    assert float(default["rl.w_learned"]) == pytest.approx(load_config(ROOT / "configs" / "tune_smoke.yaml").rl.w_learned)
    assert any("the config's own weights" in x for x in lines)
    best = load_config(work / "tune" / "best.yaml")  # a config `editor-rl train --config` accepts
    top = max(rows, key=lambda r: float(r["heldout_win_rate"]))
    assert best.rl.w_learned == pytest.approx(float(top["rl.w_learned"])) and best.rl.kl_coeff == pytest.approx(float(top["rl.kl_coeff"]))
    assert (work / "tune" / "tune.png").stat().st_size > 1000 and out["best"] == str(work / "tune" / "best.yaml")
    assert sum("heldout_win_rate" in x and x.startswith("tune: trial") for x in lines) == 8  # a progress line per trial result


def _trial_iterations(work: Path) -> dict[str, int]:
    """Iterations each trial has recorded (its result.json lines)."""
    return {d.name: len((d / "result.json").read_text().splitlines()) for d in (work / "tune" / "ray_results" / "sweep").iterdir()
            if d.is_dir() and (d / "result.json").is_file()}


def test_sigkill_mid_sweep_then_resume_does_not_rerun_finished_trials(ray_session, sweep_dir):
    import ray

    from editor_rl.apps.tune import run_tune

    work, overrides = sweep_dir
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "RAY_AUTH_MODE": "token", "PYTHONWARNINGS": "ignore"}
    args = [str(Path(sys.executable).with_name("editor-rl")), "tune", "--config", str(ROOT / "configs" / "tune_smoke.yaml")] + [x for o in overrides for x in ("--set", o)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    sweep = work / "tune" / "ray_results" / "sweep"
    deadline = time.time() + 480
    finished = []
    while time.time() < deadline and not finished:  # until the sweep's saved state records a finished trial
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        states = sorted(sweep.glob("experiment_state-*.json")) if sweep.is_dir() else []
        if states:
            try:
                data = json.loads(states[-1].read_text())
                finished = [t for t in data.get("trial_data", []) if "TERMINATED" in json.dumps(t)]  # a trial's state is a JSON string inside
            except ValueError:
                pass  # being written
        time.sleep(1.0)
    assert finished, "no trial finished before the deadline"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    done_before = {k: v for k, v in _trial_iterations(work).items() if v == 2}
    assert done_before
    out = run_tune(load_config(ROOT / "configs" / "tune_smoke.yaml", overrides=overrides), resume=True, log=lambda m: None)
    after = _trial_iterations(work)
    assert len(out["trials"]) == 4 and all(t["status"] == "TERMINATED" for t in out["trials"])
    assert all(after[k] == 2 for k in done_before)  # finished trials were not run again


def test_the_reward_level_fits_the_mixture_to_held_out_judgements(ray_session, sweep_dir, synthetic_pairs, tmp_path):
    from editor_rl.preferences.records import write_jsonl
    from editor_rl.apps.tune import run_tune

    work, overrides = sweep_dir
    names = {p.stem for p in (work / "songs").iterdir()} | {p.stem for p in (work / "validation").iterdir()}
    judgements = write_jsonl(tmp_path / "held-out.jsonl", [r for r in synthetic_pairs if r.song_id in names][:60])
    out = run_tune(load_config(ROOT / "configs" / "tune_smoke.yaml", overrides=overrides + ["tune.level=reward", "tune.trials=3"]),
                   judgements=str(judgements), log=lambda m: None)
    assert len(out["trials"]) == 3 and all(0 <= t["heldout_agreement"] <= 1 for t in out["trials"])
    assert load_config(work / "tune" / "best.yaml").tune.level == "reward"


@pytest.mark.parametrize("entry, word", [("rl.w_learned=normal(0, 1)", "normal"), ("rl.nothing=uniform(0, 1)", "rl.nothing"),
                                         ("rl.w_learned=uniform(1)", "two numbers"), ("w_learned=uniform(0, 1)", "section.field")])
def test_a_bad_space_entry_is_a_clear_error(entry, word):
    from editor_rl.apps.cli import main
    from editor_rl.apps.tune import parse_space

    with pytest.raises(ConfigError, match=word.replace(".", r"\.").replace("(", r"\(")):
        parse_space([entry])
    assert main(["tune", "--set", f"tune.space=[{json.dumps(entry)}]"]) == 2


def test_relative_paths_reach_the_trials_and_a_missing_checkpoint_is_named(tmp_path, monkeypatch):
    from editor_rl.errors import EditorRLError
    from editor_rl.apps.tune import absolute_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.pt").write_bytes(b"x")
    cfg = absolute_paths(load_config(overrides=["rl.reward_checkpoint=r.pt", "run.work_dir=w"]))
    assert cfg.rl.reward_checkpoint == str(tmp_path / "r.pt") and cfg.run.work_dir == str(tmp_path / "w")  # trials run in folders of their own
    with pytest.raises(EditorRLError, match="rl.init_policy 'nowhere' does not exist"):
        absolute_paths(load_config(overrides=["rl.init_policy=nowhere"]))
