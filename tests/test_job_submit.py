"""``ray job submit`` of a short training run and a tiny Tune sweep to a local ``ray start --head``
(token auth on)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_job_submit_trains_and_tunes(tmp_path, synth_corpus, tiny_checkpoint):
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths have a length limit
    gcs, dash, client, agent, agent_grpc, metrics, runtime_env = (_free_port() for _ in range(7))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONWARNINGS": "ignore"}
    env.pop("RAY_ADDRESS", None)
    work = tmp_path / "job"
    (work / "songs").mkdir(parents=True)
    for p in synth_corpus[:2]:
        shutil.copy(p, work / "songs" / p.name)
    try:
        start = subprocess.run([str(RAY), "start", "--head", "--num-cpus", "2", "--temp-dir", temp_dir, "--port", str(gcs), "--dashboard-host", "127.0.0.1",
                                "--dashboard-port", str(dash), "--ray-client-server-port", str(client), "--disable-usage-stats",
                                # The session's own Ray already holds the default agent ports on this host.
                                "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
                                "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env)],
                               capture_output=True, text=True, timeout=180, env=env)
        assert start.returncode == 0, start.stderr[-2000:]
        # `ray start` returns before the job agent is up; wait until the job server answers.
        import time

        deadline = time.time() + 120
        while True:
            ready = subprocess.run([str(RAY), "job", "list", "--address", f"http://127.0.0.1:{dash}"], capture_output=True, text=True, timeout=60, env=env)
            if ready.returncode == 0 or time.time() > deadline:
                break
            time.sleep(1.0)
        assert ready.returncode == 0, ready.stderr[-2000:]
        sets = [f"run.work_dir={work}", f"corpus.store_dir={work / 'features'}", f"rl.reward_checkpoint={tiny_checkpoint}", "rl.iterations=2",
                "rl.train_batch_size=600", "rl.minibatch_size=200", "rl.hidden=[64]", "pool.num_cpus=0.25", "rl.env_runner_cpus=0.5"]
        def submit(*args: str) -> subprocess.CompletedProcess:
            cmd = [str(RAY), "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(ROOT), "--", sys.executable, "-m", "editor_rl.apps.cli", *args]
            for _ in range(10):  # the agent can still be registering: the server then asks us to try again
                job = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=ROOT)
                if "No available agent to submit job" not in job.stderr:
                    break
                time.sleep(2.0)
            assert job.returncode == 0, (job.stdout + job.stderr)[-3000:]
            assert "succeeded" in job.stdout + job.stderr
            return job

        job = submit("train", *[x for s in sets for x in ("--set", s)])
        assert "iter    2/2" in job.stdout
        rows = json.loads((work / "history.json").read_text())
        assert [r["iteration"] for r in rows] == [1, 2]
        (work / "validation").mkdir()
        shutil.copy(synth_corpus[2], work / "validation" / synth_corpus[2].name)
        sweep = sets[:3] + ["tune.trials=2", "tune.iterations=1", "tune.scheduler=fifo", "tune.max_concurrent=1", "tune.synth_songs=0", "tune.pretrain_pairs=0",
                            "tune.behaviour_clone=false", "rl.hidden=[32]", "rl.train_batch_size=300", "rl.minibatch_size=100", "rl.num_epochs=1",
                            "rl.env_runner_cpus=0.5", "pool.num_cpus=0.25", "eval.target_ratios=[0.5]", "eval.max_songs=1"]
        job = submit("tune", "--config", str(ROOT / "configs" / "tune_smoke.yaml"), *[x for s in sweep for x in ("--set", s)])
        assert "2 trials; best" in job.stdout and (work / "tune" / "best.yaml").is_file()
        # Without the token the job server refuses the client.
        denied = subprocess.run([str(RAY), "job", "list", "--address", f"http://127.0.0.1:{dash}"], capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in env.items() if k != "RAY_AUTH_MODE"} | {"RAY_AUTH_MODE": "disabled"})
        assert denied.returncode != 0
    finally:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if temp_dir in " ".join(p.info["cmdline"] or []):
                try:
                    p.kill()
                except psutil.Error:
                    pass
        shutil.rmtree(temp_dir, ignore_errors=True)
