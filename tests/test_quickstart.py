"""The main job end to end, shrunk: songs → analysis → reward → BC → PPO in RLHF rounds → evaluation → an edit."""

import json

import soundfile as sf

from editor_rl.config import load_config
from editor_rl.edit.plan import EditPlan
from editor_rl.preferences.records import read_preferences
from editor_rl.apps.quickstart import run_quickstart
from editor_rl.policy.load import load_policy

from conftest import TINY_MODEL

SMALL = ["run.n_songs=3", "run.n_heldout=2", "run.n_pairs=40", "run.rlhf_rounds=2", "synth.min_seconds=20", "synth.max_seconds=25",
         "rl.iterations=2", "rl.train_batch_size=300", "rl.minibatch_size=100", "rl.num_epochs=1", "rl.hidden=[32]", "rl.vf_warmup_iterations=1",
         "rl.env_runner_cpus=0.5", "pool.num_cpus=0.25", "reward_train.max_epochs=2"] + [f"reward_model.{k}={v}" for k, v in TINY_MODEL.items()]


def test_quickstart_pipeline(ray_session, tmp_path, capsys):
    work = tmp_path / "qs"
    cfg = load_config(overrides=[f"run.work_dir={work}"] + SMALL)
    result = run_quickstart(cfg)
    out = capsys.readouterr().out
    assert "done. Outputs:" in out and result["report"] in out and "round 2/2: PPO to iteration 2" in out
    assert len(list((work / "songs").glob("*.wav"))) == 3 and len(list((work / "heldout").glob("*.wav"))) == 2
    assert (work / "reward" / "reward_r0.pt").is_file() and (work / "reward" / "reward_r1.pt").is_file()  # pretrained, then fine-tuned once
    rounds = result["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and all(r["new_pairs"] > 0 for r in rounds)
    pairs = read_preferences(work / "reward" / "pairs.jsonl")
    assert len(pairs) == 40 + sum(r["new_pairs"] for r in rounds)  # the policy's edits joined the preference set
    assert load_policy(work / "checkpoints" / "best") is not None
    report = json.loads((work / "report" / "report.json").read_text())
    assert set(report["win_rates"]) == {"policy", "best_of"} and set(report["win_rates"]["policy"]) == {"random", "every_other_phrase", "plain_cut", "search"}
    assert all(0 <= w["mean_unseen"] <= 1 and 0 <= w["reward_model"] <= 1 for m in report["win_rates"].values() for w in m.values())
    assert (work / "report" / "win_rates.png").is_file() and (work / "report" / "training_curves.png").is_file()
    plan = EditPlan.load(result["edl"])
    info = sf.info(result["edit"])
    assert info.samplerate == plan.sample_rate == 44100 and abs(info.duration - plan.duration_s) < 0.05
    # A second run finds every stage done and only re-evaluates.
    again = run_quickstart(cfg)
    assert again["rounds"] == rounds and again["best"] == result["best"]
    assert "pretraining" not in capsys.readouterr().out
