"""Multi-node scenarios on one machine (``ray.cluster_utils.Cluster``: a head and two worker nodes),
run by tests/test_multinode.py in a subprocess each, since a test session's own Ray instance holds
the process's connection. Each scenario prints one JSON line: what the test asserts on.

    python tests/multinode.py pool|ppo|serve WORK_DIR REWARD_CHECKPOINT
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import ray
from ray.cluster_utils import Cluster

from editor_rl.audio.synth import write_corpus
from editor_rl.editors.baselines import baseline_edit
from editor_rl.config import Config, PoolConfig, load_config
from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus
from editor_rl.rewards.model import load_scorer
from editor_rl.rewards.pool import RewardPool
from editor_rl.rewards.sequence import edit_sequence

WORKER = {"num_cpus": 1, "resources": {"runner": 1}}


def start_cluster() -> tuple[Cluster, list]:
    """A head without CPUs (the driver only) and two 1-CPU worker nodes carrying a ``runner`` resource."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(**WORKER) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    return cluster, workers


def wait_for(condition, *, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def songs(work: Path, config: Config) -> dict:
    """Three synthetic songs, analysed (once per work folder)."""
    if not (work / "songs").is_dir():
        write_corpus(work / "songs", n=3, seed=7, config=config.synth)
    store = FeatureStore(work / "features")
    analyze_corpus(list_songs(work / "songs"), store=store, config=config, progress=False)
    return load_corpus(list_songs(work / "songs"), store=store, config=config)


def scenario_pool(work: Path, reward: str) -> dict:
    """Pool actors spread over both worker nodes; one node removed while a request is in flight:
    every sequence is still scored exactly once, with the model's own scores."""
    config = Config()
    cluster, workers = start_cluster()
    analyses = list(songs(work, config).values())
    seqs = [edit_sequence(a, p, target_seconds=0.5 * a.duration_s) for a in analyses for s in range(20)
            for p in [baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=s, temperature=2.0)]]
    pool = RewardPool(reward, config=PoolConfig(num_actors=2, num_cpus=0.5, max_batch=2, max_wait_ms=200, timeout_s=20, max_retries=3),
                      scheduling_strategy="SPREAD")
    stats: list[dict] = []

    def both_answer() -> bool:  # an actor still starting (slowly, on a loaded machine) answers {}
        stats[:] = pool.stats()
        return all("node" in s for s in stats)

    wait_for(both_answer, timeout_s=120, what="both pool actors answering")
    where = [s["node"] for s in stats]
    import threading

    out = {}
    t = threading.Thread(target=lambda: out.update(scores=pool.score(seqs * 3)))
    t.start()
    wait_for(lambda: pool.submitted >= 20, timeout_s=60, what="chunks in flight")
    cluster.remove_node(workers[1])
    t.join(timeout=240)
    got = out["scores"][0]
    expect = load_scorer(reward).score(seqs)[0]
    result = {"nodes": len(set(where)), "actors": len(where), "sequences": len(seqs) * 3, "scored": int(len(got)),
              "max_error": float(np.abs(got - np.tile(expect, 3)).max()), "resent": pool.resent}
    pool.shutdown()
    ray.shutdown()
    cluster.shutdown()
    return result


def scenario_ppo(work: Path, reward: str) -> dict:
    """PPO with an env runner on each worker node; one worker node removed mid-training and added back:
    training goes on, the restart is counted, every iteration keeps its learned reward."""
    from editor_rl.rl.algo import build_ppo_config
    from editor_rl.rl.loop import history_row, reward_identity

    config = load_config(overrides=[f"corpus.store_dir={work / 'features'}", f"rl.reward_checkpoint={reward}", "rl.num_env_runners=2",
                                    "rl.envs_per_env_runner=1", "rl.env_runner_cpus=0.5", "rl.train_batch_size=300", "rl.minibatch_size=100",
                                    "rl.num_epochs=1", "rl.hidden=[32]", "rl.restart_delay_s=0.5"])
    cluster, workers = start_cluster()
    songs(work, config)
    pool = RewardPool(reward, config=PoolConfig(num_actors=1, num_cpus=0.25))
    reward_id = reward_identity(reward)
    ppo = build_ppo_config(config, songs=list_songs(work / "songs"), pool=pool, reward_id=reward_id)
    algo = ppo.env_runners(custom_resources_per_env_runner={"runner": 1}).build_algo()  # one env runner per worker node
    rows, removed, added = [], None, None
    try:
        deadline = time.time() + 400
        while time.time() < deadline:
            t0 = time.time()
            rows.append(history_row(len(rows) + 1, algo.train(), time.time() - t0, reward_id))
            if removed is None:
                cluster.remove_node(workers[1])
                removed = len(rows)
            elif added is None and len(rows) >= removed + 2:
                workers[1] = cluster.add_node(**WORKER)
                added = len(rows)
            elif added is not None and (rows[-1]["env_runner_restarts"] or 0) >= 1 and len(rows) >= added + 2:
                break
    finally:
        algo.stop()
        pool.shutdown()
        ray.shutdown()
        cluster.shutdown()
    return {"iterations": [r["iteration"] for r in rows], "removed_after": removed, "added_after": added,
            "restarts": max(r["env_runner_restarts"] or 0 for r in rows), "learned": [r["learned_score_mean"] for r in rows]}


def scenario_serve(work: Path, reward: str) -> dict:
    """Serve with an Editor replica on each worker node (the ingress, feedback and reward on the
    head); one worker node removed under a bounded load from two local clients: how many requests
    were answered 200."""
    import socket
    import threading

    import requests
    from ray import serve

    from editor_rl.rl.bc import train_bc
    from editor_rl.serving.app import Ingress
    from editor_rl.serving.deployments import Editor, Feedback, Reward, ServeSettings

    config = Config()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 10}, "include_dashboard": False})
    workers = [cluster.add_node(**WORKER) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    analyses = songs(work, config)
    policy = train_bc(analyses, config=config, out_dir=work / "policy", edits_per_song=2, epochs=2, log=lambda m: None)
    settings = ServeSettings(checkpoint=policy["checkpoint"], data_dir=str(work / "serve"), songs_dir=str(work / "songs"), reward=reward, config=config)
    on_head = {"num_cpus": 0.1, "resources": {"head": 1}}
    app = Ingress.options(ray_actor_options=on_head).bind(
        settings, Editor.options(num_replicas=2, ray_actor_options={"num_cpus": 0.5, "resources": {"runner": 1}}).bind(settings),
        Feedback.options(ray_actor_options=on_head).bind(settings), Reward.options(ray_actor_options=on_head).bind(settings))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    serve.run(app, name="editor-rl", route_prefix="/")
    token = (work / "serve" / "token").read_text().strip()
    url, song = f"http://127.0.0.1:{port}/api/edit", next(iter(analyses.values()))
    codes: list[int] = []
    replicas: set[str] = set()
    stop = threading.Event()

    def client(k: int) -> None:
        with requests.Session() as http:
            while not stop.is_set():
                r = http.post(url, json={"song_id": song.song_id, "target_seconds": round(0.5 * song.duration_s, 1), "temperature": 0.5},
                              headers={"Authorization": f"Bearer {token}"}, timeout=120)
                codes.append(r.status_code)
                if r.status_code == 200:
                    replicas.add(r.headers.get("X-Editor-Replica", ""))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(codes) >= 10 and len(replicas) == 2, timeout_s=240, what="both replicas answering")
    before = len(codes)
    cluster.remove_node(workers[1])
    wait_for(lambda: len(codes) >= before + 30, timeout_s=240, what="30 requests after the node was removed")
    stop.set()
    for t in threads:
        t.join(timeout=150)
    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()
    return {"requests": len(codes), "ok": codes.count(200), "after_removal": len(codes) - before, "replicas_seen": len(replicas),
            "codes": sorted(set(codes))}


if __name__ == "__main__":
    name, work, reward = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    work.mkdir(parents=True, exist_ok=True)
    result = {"pool": scenario_pool, "ppo": scenario_ppo, "serve": scenario_serve}[name](work, reward)
    print(json.dumps(result), flush=True)
