"""The model shipped in the package: whole, small, and editing real OGG and MP3 files without training."""

import json
import logging
import shutil
import subprocess

import pytest
import soundfile as sf
from ray.util.debug import reset_log_once

from editor_rl.apps.cli import main
from editor_rl.edit.plan import EditPlan
from editor_rl.errors import ConfigError
from editor_rl.rewards.model import load_scorer
from editor_rl.policy.load import MODULE_SUBDIR, load_policy
from editor_rl.policy.shipped import SHIPPED_DIR, policy_or_shipped, ship, shipped_model


def test_the_shipped_model_is_whole_small_and_carries_its_card():
    model = shipped_model()
    assert sum(model.card["bytes"].values()) <= 10 * 2**20
    assert model.card["commit"] and "real_pipeline.sh" in model.card["command"]
    assert set(model.card["digests"]) == {"policy/class_and_ctor_args.pkl", "policy/module_state.pkl", "policy/metadata.json", "reward.pt", "config.yaml"}
    assert model.card["evaluation"]["win_rates"]["policy"]["plain_cut"]  # the run's own report travels with it
    load_policy(model.policy)
    assert load_scorer(model.reward).model.config.ensemble >= 1
    assert policy_or_shipped(None, None) == (str(model.policy), str(model.reward))
    assert policy_or_shipped("ckpt", None) == ("ckpt", "")  # a given policy is never paired with the shipped reward model


@pytest.fixture(scope="module")
def real_files(real_music, tmp_path_factory):
    """One held-out real recording as Debian ships it (OGG) and 70 s of another as an MP3 (Debian's lame)."""
    out = tmp_path_factory.mktemp("shipped")
    ogg, other = sorted((real_music / "heldout").glob("*.ogg"))[:2]
    data, sr = sf.read(other, frames=70 * 44100, always_2d=True)
    sf.write(out / "excerpt.wav", data, sr)
    subprocess.run(["lame", "--quiet", "-V", "2", str(out / "excerpt.wav"), str(out / "excerpt.mp3")], check=True)
    return {"ogg": ogg, "mp3": out / "excerpt.mp3"}


@pytest.mark.parametrize("kind", ["ogg", "mp3"])
def test_edit_without_a_checkpoint_uses_the_shipped_model(ray_session, real_files, kind, tmp_path, capsys):
    song, target = real_files[kind], 30.0
    out, edl = tmp_path / "edit.wav", tmp_path / "edit.json"
    assert main(["edit", str(song), "--target-seconds", str(target), "--out", str(out), "--edl", str(edl)]) == 0
    assert f"→ {out}" in capsys.readouterr().out
    plan = EditPlan.from_edl(json.loads(edl.read_text()), source_duration_s=sf.info(song).duration)
    assert abs(plan.duration_s - target) <= 0.1 * target  # the length promise
    info = sf.info(out)
    assert info.duration == pytest.approx(plan.duration_s, abs=0.1)


def test_a_damaged_shipped_model_is_refused_naming_the_file(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED_DIR, copy)
    (copy / "reward.pt").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"reward\.pt.*does not match its digest.*real_pipeline\.sh"):
        shipped_model(copy)
    (copy / "policy" / "module_state.pkl").unlink()
    with pytest.raises(ConfigError, match=r"module_state\.pkl.*is missing"):
        shipped_model(copy)
    (copy / "model.json").unlink()
    with pytest.raises(ConfigError, match=r"no default model at .*model\.json missing"):
        shipped_model(copy)


def test_ship_copies_a_runs_best_policy_reward_model_and_report(tmp_path):
    run = tmp_path / "run"
    module_dir = run / "checkpoints" / "best" / MODULE_SUBDIR
    module_dir.mkdir(parents=True)
    for f in (SHIPPED_DIR / "policy").iterdir():
        shutil.copy(f, module_dir / f.name)
    (run / "reward").mkdir()
    shutil.copy(SHIPPED_DIR / "reward.pt", run / "reward" / "reward.pt")
    shutil.copy(SHIPPED_DIR / "config.yaml", run / "run_config.yaml")
    with pytest.raises(ConfigError, match=r"cannot ship .*nothing.*missing"):
        ship(tmp_path / "nothing", out_dir=tmp_path / "out", commit="abc", command="x")
    (run / "report").mkdir()
    (run / "report" / "report.json").write_text(json.dumps({"songs": ["a"], "win_rates": {"policy": {}}, "rows": {"policy": []}}))
    model = ship(run, out_dir=tmp_path / "out", commit="abc1234", command="bash scripts/real_pipeline.sh")
    original = shipped_model()
    assert model.card["digests"] == original.card["digests"] and model.card["commit"] == "abc1234"  # the half-precision weights, again
    assert model.card["evaluation"] == {"songs": ["a"], "win_rates": {"policy": {}}}  # the summary, not every row
    load_policy(model.policy)


def test_loading_the_shipped_policy_greets_nobody_with_rllibs_own_deprecation():
    notices = logging.getLogger("ray._common.deprecation")  # Ray's loggers do not propagate: listen on it
    heard: list[str] = []
    listener = logging.Handler(level=logging.WARNING)
    listener.emit = lambda record: heard.append(record.getMessage())
    notices.addHandler(listener)
    reset_log_once()  # RLlib says it once a process: an earlier test's module must not have used it up
    try:
        assert load_policy(shipped_model().policy) is not None
        notices.warning("DeprecationWarning: `old` has been deprecated.")  # every other notice still passes
    finally:
        notices.removeHandler(listener)
    assert heard == ["DeprecationWarning: `old` has been deprecated."]
