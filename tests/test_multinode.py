"""Across nodes (``ray.cluster_utils.Cluster``: a head and two worker nodes on this machine): the
reward pool loses a node and still scores every sequence exactly once; PPO loses an env runner's
node and gets it back, with the restart counted and no iteration without its learned reward; Serve
loses one of its two Editor replicas' nodes under load and answers ≥ 99 % of requests.

Each scenario runs in its own process (tests/multinode.py): the test session's Ray instance holds
this process's connection.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _scenario(name: str, work: Path, reward: Path, *, timeout_s: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")} | {"PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, str(HERE / "multinode.py"), name, str(work), str(reward)], capture_output=True, text=True,
                         timeout=timeout_s, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("multinode")


def test_the_pool_spread_over_nodes_loses_one_and_scores_every_sequence_once(work, tiny_checkpoint):
    out = _scenario("pool", work, tiny_checkpoint, timeout_s=420)
    assert out["actors"] == 2 and out["nodes"] == 2  # one actor per worker node
    assert out["scored"] == out["sequences"] == 180  # every sequence answered, once, in order
    assert out["max_error"] < 1e-4  # with the model's own scores
    assert out["resent"] >= 1  # the removed node's chunks went to the other actor


def test_ppo_loses_an_env_runners_node_and_gets_it_back(work, tiny_checkpoint):
    out = _scenario("ppo", work, tiny_checkpoint, timeout_s=540)
    assert out["removed_after"] == 1 and out["added_after"] is not None
    assert out["restarts"] >= 1  # the env runner of the removed node was restarted on the new one
    assert out["iterations"] == list(range(1, len(out["iterations"]) + 1))
    assert all(x is not None for x in out["learned"])  # no iteration lost its learned reward


def test_serve_loses_an_editor_replicas_node_under_load(work, tiny_checkpoint):
    out = _scenario("serve", work, tiny_checkpoint, timeout_s=540)
    assert out["replicas_seen"] == 2  # both nodes' replicas answered before one went
    assert out["after_removal"] >= 30
    assert out["ok"] >= 0.99 * out["requests"], out
