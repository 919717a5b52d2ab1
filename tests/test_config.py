from pathlib import Path

import pytest

from editor_rl.config import Config, load_config
from editor_rl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_frozen_and_typed():
    cfg = load_config()
    assert cfg == Config()
    with pytest.raises(Exception):
        cfg.audio.sample_rate = 1  # type: ignore[misc]


def test_quickstart_yaml_equals_embedded_default():
    assert load_config(ROOT / "configs" / "quickstart.yaml") == Config()


def test_every_config_file_loads():
    files = sorted((ROOT / "configs").glob("*.yaml"))
    assert files
    for f in files:
        assert isinstance(load_config(f), Config)


def test_set_overrides_parse_yaml_values():
    cfg = load_config(overrides=["render.crossfade_ms=30", "run.num_cpus=2", "audio.allowed_formats=[wav]", "rl.lr=1e-4"])
    assert cfg.rl.lr == 1e-4  # YAML 1.1 reads 1e-4 as a string; float fields accept it
    assert cfg.render.crossfade_ms == 30.0 and isinstance(cfg.render.crossfade_ms, float)
    assert cfg.run.num_cpus == 2
    assert cfg.audio.allowed_formats == ("wav",)


@pytest.mark.parametrize(
    "override, field",
    [
        ("render.crossfade_ms=-1", "render.crossfade_ms"),
        ("audio.sample_rate=abc", "audio.sample_rate"),
        ("audio.nope=1", "audio.nope"),
        ("beats.beats_per_phrase=6", "beats.beats_per_phrase"),
        ("nosection.x=1", "nosection"),
        ("run.n_songs=true", "run.n_songs"),
        ("pick.window_spacing=2", "pick.window_spacing"),
    ],
)
def test_bad_fields_name_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(overrides=[override])


def test_malformed_override_and_file(tmp_path):
    with pytest.raises(ConfigError, match="section.field=value"):
        load_config(overrides=["no_equals_sign"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_every_config_file_spells_out_every_field():
    import yaml

    want = {s: set(f) for s, f in Config().to_dict().items()}
    for f in sorted((ROOT / "configs").glob("*.yaml")):
        data = yaml.safe_load(f.read_text())
        assert {s: set(v) for s, v in data.items()} == want, f.name


def test_eval_targets_in_seconds_replace_the_ratios_and_skip_short_songs():
    assert Config().eval.targets(100.0) == pytest.approx([30.0, 50.0, 70.0])
    cfg = load_config(overrides=["eval.target_seconds=[30, 60]"])
    assert cfg.eval.targets(180.0) == [30.0, 60.0] and cfg.eval.targets(50.0) == [30.0]
    with pytest.raises(ConfigError, match=r"eval\.target_seconds"):
        load_config(overrides=["eval.target_seconds=[-5]"])


def test_an_atomic_write_leaves_the_file_whole_with_its_mode_and_no_temporary(tmp_path):
    import stat

    from editor_rl.config.atomic import write_text_atomic

    secret = write_text_atomic(tmp_path / "deep" / "service.json", '{"store": "x"}', mode=0o600)
    assert secret.read_text() == '{"store": "x"}' and stat.S_IMODE(secret.stat().st_mode) == 0o600
    write_text_atomic(secret, "second", mode=0o600)
    assert secret.read_text() == "second" and sorted(p.name for p in secret.parent.iterdir()) == ["service.json"]
