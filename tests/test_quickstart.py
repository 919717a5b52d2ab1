"""The main job end to end (small): synthesise, analyse with Ray tasks, render a baseline edit."""

import json

import soundfile as sf

from editor_rl.config import load_config
from editor_rl.edit.plan import EditPlan
from editor_rl.quickstart import run_quickstart


def test_quickstart_pipeline(ray_session, tmp_path, capsys):
    cfg = load_config(overrides=[f"run.work_dir={tmp_path / 'qs'}", "run.n_songs=2", "synth.min_seconds=20", "synth.max_seconds=25"])
    result = run_quickstart(cfg)
    out = capsys.readouterr().out
    assert "done. Outputs:" in out and result["edit"] in out
    assert result["analysis"]["analysed"] == ["song_000", "song_001"] and not result["analysis"]["failed"]
    plan = EditPlan.load(result["edl"])
    info = sf.info(result["edit"])
    assert info.samplerate == plan.sample_rate == 44100 and info.channels == 2
    assert abs(info.duration - plan.duration_s) < 0.05
    assert json.loads((tmp_path / "qs" / "quickstart.json").read_text())["edl"] == result["edl"]
    # A second run reuses the songs and the stored analyses.
    again = run_quickstart(cfg)
    assert again["analysis"]["skipped"] == ["song_000", "song_001"]
