"""PPO on RLlib with the learned reward: a short run, SIGKILL + resume, and using the policy."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from editor_rl.audio.analysis import file_hash
from editor_rl.config import config_data, load_config
from editor_rl.errors import ConfigError

EXE = Path(sys.executable).with_name("editor-rl")


@pytest.fixture(scope="module")
def rl_work(tmp_path_factory, synth_corpus, tiny_checkpoint):
    work = tmp_path_factory.mktemp("rl")
    (work / "songs").mkdir()
    for p in synth_corpus[:3]:
        shutil.copy(p, work / "songs" / p.name)
    (work / "validation").mkdir()
    for p in synth_corpus[3:5]:  # songs the policy never trains on: the held-out judges edit them at checkpoints
        shutil.copy(p, work / "validation" / p.name)
    return work


def _overrides(work: Path, reward: Path, iterations: int) -> list[str]:
    return [f"run.work_dir={work}", f"corpus.store_dir={work / 'features'}", f"rl.reward_checkpoint={reward}",
            f"rl.iterations={iterations}", "rl.checkpoint_every=2", "rl.train_batch_size=600", "rl.minibatch_size=200",
            "rl.num_epochs=2", "rl.hidden=[64]", "pool.num_cpus=0.25", "rl.env_runner_cpus=0.5", f"run.heldout_dir={work.parent / 'validation'}",
            "eval.target_ratios=[0.5]"]


@pytest.fixture(scope="module")
def short_run(ray_session, rl_work, tiny_checkpoint) -> tuple[Path, dict, list[str]]:
    """A two-iteration PPO run: its folder, ``train``'s result and its log lines (the tests that load
    its checkpoints ask for it, so each also runs alone)."""
    from editor_rl.rl.train import train

    work = rl_work / "short"
    shutil.copytree(rl_work / "songs", work / "songs")
    lines = []
    out = train(load_config(overrides=_overrides(work, tiny_checkpoint, 2)), log=lines.append)
    return work, out, lines


def test_short_run_logs_learned_and_dense_and_checkpoints(short_run, tiny_checkpoint):
    work, out, lines = short_run
    rows = out["history"]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(r["dense_return_mean"] is not None and r["learned_score_mean"] is not None and r["total_return_mean"] is not None for r in rows)
    assert all(-10 <= r["learned_score_mean"] <= 10 for r in rows)
    assert len(lines) == 2 and lines[0].startswith("iter    1/2: return")
    assert (work / "checkpoints" / "iter_0002").is_dir() and (work / "checkpoints" / "best").is_dir()
    assert json.loads((work / "history.json").read_text()) == rows
    # best is chosen by judges that labelled nothing, on songs it never trained on; every row names its reward model
    judged = [r for r in rows if r["heldout_win_rate"] is not None]
    assert [r["iteration"] for r in judged] == [2] and 0 <= judged[0]["heldout_win_rate"] <= 1
    best = json.loads((work / "checkpoints" / "best.json").read_text())
    assert best["iteration"] == 2 and best["heldout_win_rate"] == judged[0]["heldout_win_rate"] and best["heldout_songs"] == ["song_003", "song_004"]
    assert all(r["reward_checkpoint"] == f"{tiny_checkpoint.name}@{file_hash(tiny_checkpoint)}" for r in rows)
    learned = [(step, v) for tag, step, v in _tensorboard_scalars(work / "tensorboard") if tag == "train/learned_score_mean"]
    assert [s for s, _ in learned] == [1, 2] and learned[-1][1] == pytest.approx(rows[-1]["learned_score_mean"], rel=1e-5)


def _tensorboard_scalars(folder: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every scalar in the event files (TFRecord framing: length, crc, data, crc)."""
    import struct

    from tensorboardX.proto import event_pb2

    out = []
    for f in sorted(folder.glob("events.out.tfevents.*")):
        data, i = f.read_bytes(), 0
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            ev = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            out += [(v.tag, ev.step, v.simple_value) for v in ev.summary.value]
    return out


def test_sigkill_then_resume_reaches_the_iteration_count(ray_session, rl_work, tiny_checkpoint):
    import ray
    import torch

    from editor_rl.policy.load import load_policy
    from editor_rl.rl.train import train

    work = rl_work / "resume"
    shutil.copytree(rl_work / "songs", work / "songs")
    args = [str(EXE), "train"] + [x for o in _overrides(work, tiny_checkpoint, 6) for x in ("--set", o)]
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "RAY_AUTH_MODE": "token", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    latest = work / "checkpoints" / "latest.json"
    deadline = time.time() + 240
    while time.time() < deadline and not latest.is_file():
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # training dies right after its first checkpoint
    proc.wait(timeout=30)
    killed_at = json.loads(latest.read_text())
    assert killed_at["iteration"] >= 2
    saved = load_policy(killed_at["path"]).get_state()
    # Restoring that checkpoint gives the learner exactly the checkpoint's policy.
    from editor_rl.corpus.store import list_songs
    from editor_rl.rl.algo import build_ppo_config

    cfg = load_config(overrides=_overrides(work, tiny_checkpoint, 6))
    algo = build_ppo_config(cfg, songs=list_songs(work / "songs"), pool=None).build_algo()
    algo.restore_from_path(killed_at["path"])
    restored = algo.learner_group.get_weights()["default_policy"]
    algo.stop()
    for k, v in saved.items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(restored[k])), k
    stats = json.loads((Path(killed_at["path"]) / "connector.json").read_text())
    assert stats["count"] > 0 and stats["reward_id"].startswith(tiny_checkpoint.name)
    # Resuming names only the run: its own config (reward model, sizes) comes back; a conflicting field is refused.
    from editor_rl.apps.cli import main
    from editor_rl.rl.train import resumed_config

    assert main(["train", "--resume", "--set", f"run.work_dir={work}", "--set", "rl.kl_coeff=0.5"]) == 2
    with pytest.raises(ConfigError, match=r"rl\.reward_checkpoint=''"):
        train(load_config(overrides=_overrides(work, tiny_checkpoint, 6) + ["rl.reward_checkpoint="]), resume=True)
    cfg = resumed_config(config_data(overrides=[f"run.work_dir={work}"]))
    assert cfg.rl.reward_checkpoint == str(tiny_checkpoint) and cfg.rl.iterations == 6 and cfg.rl.hidden == (64,)
    lines = []
    out = train(cfg, resume=True, log=lines.append)
    assert lines[0].startswith(f"train: resumed from {killed_at['path']} at iteration {killed_at['iteration']}")
    assert lines[1] == f"train: restored the learned-reward statistics ({stats['count']} edits scored by {stats['reward_id']})"
    first = out["history"][killed_at["iteration"]]  # the first iteration after the resume
    assert first["reward_stats_count"] == stats["count"] + first["edits_scored"]  # the running statistics went on, not from zero
    assert [r["iteration"] for r in out["history"]] == list(range(1, 7))
    assert json.loads(latest.read_text())["iteration"] == 6


def test_edit_with_a_trained_policy_is_deterministic_at_temperature_0(short_run, analyses, config):
    from editor_rl.policy.rollouts import policy_edit
    from editor_rl.policy.load import load_policy

    ckpt = short_run[0] / "checkpoints" / "best"
    module = load_policy(ckpt)
    a = analyses[0]
    p1 = policy_edit(module, a, target_seconds=0.5 * a.duration_s, config=config, temperature=0.0, seed=1)
    p2 = policy_edit(module, a, target_seconds=0.5 * a.duration_s, config=config, temperature=0.0, seed=2)
    assert p1 == p2
    hot = {policy_edit(module, a, target_seconds=0.5 * a.duration_s, config=config, temperature=2.0, seed=s).beat_order for s in range(4)}
    assert len(hot) > 1


def _pids(title: str, *, since: float) -> list[int]:
    """Ray worker processes titled ``ray::<title>`` started after ``since`` (not an earlier test's)."""
    import psutil

    out = []
    for p in psutil.process_iter(["pid", "cmdline", "create_time"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith(f"ray::{title}") and p.info["create_time"] >= since:
            out.append(p.info["pid"])
    return out


def test_killed_env_runner_and_reward_actor_mid_training(ray_session, rl_work, tiny_checkpoint):
    """Kill an EnvRunner, then a reward actor; training goes on until the restart is counted and two
    iterations after the reward actor's death have their learned reward (bounded: 30 iterations, 10 min)."""
    import threading

    from editor_rl.rl.train import train

    work = rl_work / "faults"
    shutil.copytree(rl_work / "songs", work / "songs")
    cfg = load_config(overrides=_overrides(work, tiny_checkpoint, 30) + ["rl.restart_delay_s=0.5", "rl.checkpoint_every=100", "run.heldout_dir="])
    out, lines, killed = {}, [], {}
    since = time.time()

    def recovered(history: list[dict]) -> bool:
        restarts = max(r["env_runner_restarts"] or 0 for r in history)
        return "reward" in killed and history[-1]["iteration"] >= killed["reward"] + 2 and restarts >= 1

    t = threading.Thread(target=lambda: out.update(train(cfg, log=lines.append, stop_when=recovered)))
    t.start()
    deadline = time.time() + 600
    while t.is_alive() and time.time() < deadline:
        done = sum(x.startswith("iter") for x in lines)
        runners, rewards = _pids("SingleAgentEnvRunner", since=since), _pids("RewardWorker", since=since)
        if done >= 1 and "runner" not in killed and runners:
            os.kill(runners[0], signal.SIGKILL)
            killed["runner"] = done
        if done >= 3 and "reward" not in killed and rewards:
            os.kill(rewards[0], signal.SIGKILL)
            killed["reward"] = done + 1  # the next iteration is the first without that actor
        time.sleep(0.2)
    t.join(timeout=120)
    assert set(killed) == {"runner", "reward"}
    rows = out["history"]
    assert recovered(rows), rows[-1]  # it stopped because the condition held, not at the iteration cap
    assert [r["iteration"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["learned_score_mean"] is not None for r in rows)  # no iteration lost its learned reward


def test_evaluate_writes_report_with_win_rates_and_curves(rl_work, short_run, tiny_checkpoint):
    from editor_rl.apps.evaluate import evaluate

    ckpt = short_run[0] / "checkpoints" / "best"
    cfg = load_config(overrides=[f"corpus.store_dir={short_run[0] / 'features'}", f"rl.reward_checkpoint={tiny_checkpoint}"])
    report = evaluate(ckpt, songs_dir=rl_work / "songs", out_dir=rl_work / "report", config=cfg)
    assert report["edits_per_method"] == 3 * 3
    assert set(report["win_rates"]) == {"policy", "best_of"} and set(report["win_rates"]["best_of"]) == {"random", "every_other_phrase", "plain_cut", "search"}
    for w in report["win_rates"]["policy"].values():
        assert 0 <= w["reward_model"] <= 1 and 0 <= w["mean_unseen"] <= 1 and set(w["judges"]) == set(report["judges"])
    for m, v in report["summary"].items():  # every method keeps the length promise; the planner's repairs are counted
        assert v["abs_duration_error"] < 0.05 + 0.02 and 0 <= v["repairs"] <= 9, m
    for f in ("report.md", "report.json", "win_rates.png", "training_curves.png"):
        assert (rl_work / "report" / f).is_file(), f
    assert "| policy vs |" in (rl_work / "report" / "report.md").read_text()


def test_dpo_prefers_the_chosen_edits(tmp_path, synthetic_pairs, analyses, config):
    from editor_rl.rl.dpo import train_dpo
    from editor_rl.policy.rollouts import policy_edit
    from editor_rl.policy.load import load_policy

    by_id = {a.song_id: a for a in analyses}
    res = train_dpo(synthetic_pairs, by_id, config=config, out_dir=tmp_path / "dpo", epochs=3, lr=1e-3, log=lambda m: None)
    assert res["pairs"] > 100 and res["skipped"] >= sum(r.preference == "tie" for r in synthetic_pairs)
    h = res["history"]
    assert h[-1]["loss"] < h[0]["loss"] and h[-1]["preference_accuracy"] > 0.6
    module = load_policy(res["checkpoint"])
    a = analyses[0]
    assert policy_edit(module, a, target_seconds=0.5 * a.duration_s, config=config).duration_s > 0


def test_behaviour_cloning_imitates_search_and_seeds_ppo(ray_session, rl_work, analyses, config, tiny_checkpoint):
    import torch

    from editor_rl.rl.bc import train_bc
    from editor_rl.policy.rollouts import policy_edit
    from editor_rl.policy.load import load_policy
    from editor_rl.rl.train import train

    by_id = {a.song_id: a for a in analyses[:3]}
    res = train_bc(by_id, config=config, out_dir=rl_work / "bc", edits_per_song=8, epochs=40, log=lambda m: None)
    assert res["history"][-1]["accuracy"] > 0.9 and res["history"][-1]["loss"] < res["history"][0]["loss"]
    bc = load_policy(res["checkpoint"])
    a = analyses[0]
    assert policy_edit(bc, a, target_seconds=0.6 * a.duration_s, config=config).duration_s > 0
    # PPO started from it (with a vanishing learning rate) still holds the cloned policy.
    work = rl_work / "from_bc"
    shutil.copytree(rl_work / "songs", work / "songs")
    lines = []
    cfg = load_config(overrides=_overrides(work, tiny_checkpoint, 2) + [f"rl.init_policy={res['checkpoint']}", "rl.lr=1e-12", "rl.hidden=[256,256]"])
    out = train(cfg, log=lines.append)
    assert lines[0] == f"train: starting from the policy in {res['checkpoint']}"
    after = load_policy(out["checkpoint"]).get_state()
    for k, v in bc.get_state().items():
        if k.startswith("pi."):
            assert torch.allclose(torch.as_tensor(v), torch.as_tensor(after[k]), atol=1e-5), k


def test_each_sample_call_draws_new_songs_and_targets(rl_work):
    """RLlib re-resets envs with the run's seed on every complete-episodes sample() call; the env
    wrapper must still give new episodes (else PPO trains on the same few edits forever)."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from editor_rl.rl.algo import build_ppo_config

    cfg = load_config(overrides=[f"corpus.store_dir={rl_work / 'features-runner'}", "rl.hidden=[16]", "rl.num_env_runners=0"])
    ppo = build_ppo_config(cfg, songs=sorted((rl_work / "songs").glob("*.wav")), pool=None)
    runner = SingleAgentEnvRunner(config=ppo)
    try:
        draws = [tuple(round(e.get_infos(0)["target_seconds"], 3) for e in runner.sample()) for _ in range(3)]
    finally:
        runner.stop()
    assert len(set(draws)) == 3, draws  # three calls, three different sets of episodes
    again = SingleAgentEnvRunner(config=ppo)
    try:
        assert tuple(round(e.get_infos(0)["target_seconds"], 3) for e in again.sample()) == draws[0]  # still reproducible
    finally:
        again.stop()


def test_a_run_ray_cannot_place_is_refused_naming_the_fields(ray_session, tiny_checkpoint):
    from editor_rl.errors import EditorRLError
    from editor_rl.rl.train import check_cpus

    lines: list[str] = []
    fits = load_config(overrides=["rl.num_env_runners=1", "rl.env_runner_cpus=0.5"])
    check_cpus(fits, lines.append, wait_s=0.5)  # the session's Ray has room for this
    too_big = load_config(overrides=["rl.num_env_runners=2", "rl.env_runner_cpus=64", f"rl.reward_checkpoint={tiny_checkpoint}"])
    t0 = time.monotonic()
    with pytest.raises(EditorRLError, match=r"need 129 CPUs \(rl\.num_env_runners=2 × rl\.env_runner_cpus=64 \+ pool\.num_actors=1 × pool\.num_cpus=1\)"):
        check_cpus(too_big, lines.append, wait_s=0.5)
    assert time.monotonic() - t0 < 30 and lines == []
