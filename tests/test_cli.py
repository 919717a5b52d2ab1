"""The CLI: each command's happy path, and exit 2 with one clear line on bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from editor_rl.apps.cli import main
from test_audio_io import make_bad

EXE = Path(sys.executable).with_name("editor-rl")


def run_cli(*args, timeout=120):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def test_help_for_every_command():
    for cmd in ("synth", "analyze", "render", "edit", "train", "evaluate", "candidates", "serve", "quickstart"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "--config" in r.stdout and "--set" in r.stdout


def test_analyze_json_fields(song):
    r = run_cli("analyze", song, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"duration_s", "tempo_bpm", "beats_s", "downbeats_s", "n_beats", "feature_dim"} <= set(out)
    assert out["feature_dim"] == 125 and out["n_beats"] == len(out["beats_s"])
    assert len(out["mood"]) == out["n_beats"] and all(-1 <= x <= 1 for m in out["mood"] for x in m)  # arousal, valence per beat
    assert all(-1 <= s["arousal"] <= 1 and -1 <= s["valence"] <= 1 for s in out["sections"])  # and per section


@pytest.mark.parametrize("kind", ["empty", "not_audio", "truncated_mp3", "silence"])
def test_bad_audio_exits_2_with_one_line(kind, tmp_path):
    p = make_bad(kind, tmp_path)
    r = run_cli("analyze", p)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("editor-rl: error: ") and p.name in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["empty", "not_audio", "zero_length", "truncated_wav", "truncated_mp3", "truncated_flac", "nan", "inf", "silence", "unsupported", "missing"])
def test_every_bad_input_exits_2_in_process(kind, tmp_path, capsys):
    p = make_bad(kind, tmp_path)
    assert main(["analyze", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and p.name in err[0]


def test_too_long_and_bad_config_exit_2(song, capsys):
    assert main(["analyze", str(song), "--set", "audio.max_duration_s=5"]) == 2
    assert "too long" in capsys.readouterr().err
    assert main(["analyze", str(song), "--set", "audio.hop_length=-3"]) == 2
    assert "audio.hop_length=-3" in capsys.readouterr().err
    assert main(["analyze", str(song), "--set", "beats.learned_weights=/nowhere/tcn.pt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no weights at /nowhere/tcn.pt" in err[0]


def test_usage_errors_exit_2():
    r = run_cli("render")
    assert r.returncode == 2 and "required" in r.stderr


def test_synth_analyze_render_round_trip(tmp_path):
    r = run_cli("synth", "--out", tmp_path / "songs", "--n", "2", "--seed", "9", "--set", "synth.max_seconds=20", "--set", "synth.min_seconds=15")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "songs").iterdir()) == ["song_000.truth.json", "song_000.wav", "song_001.truth.json", "song_001.wav"]
    song = tmp_path / "songs" / "song_000.wav"
    edl = {"source": str(song), "sample_rate": 44100, "segments": [{"src_start_s": 0.5, "src_end_s": 3.0}, {"src_start_s": 6.0, "src_end_s": 8.0}], "actions": []}
    (tmp_path / "e.json").write_text(json.dumps(edl))
    r = run_cli("render", song, "--edl", tmp_path / "e.json", "--out", tmp_path / "out.wav")
    assert r.returncode == 0, r.stderr
    import soundfile as sf

    info = sf.info(tmp_path / "out.wav")
    assert info.samplerate == 44100 and info.channels == 2 and abs(info.duration - 4.5) < 0.01
    # An EDL past the song's end: exit 2, one line naming the value.
    edl["segments"][1]["src_end_s"] = 999.0
    (tmp_path / "e.json").write_text(json.dumps(edl))
    r = run_cli("render", song, "--edl", tmp_path / "e.json", "--out", tmp_path / "out2.wav")
    assert r.returncode == 2 and "src_end_s=999.0 is past the end" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out2.wav").exists()


def test_edit_with_each_baseline(song, tmp_path):
    import soundfile as sf

    for name in ("search", "random", "every_other_phrase"):
        out, edl = tmp_path / f"{name}.wav", tmp_path / f"{name}.json"
        r = run_cli("edit", song, "--target-seconds", "25", "--policy", f"baseline:{name}", "--out", out, "--edl", edl, "--seed", "1")
        assert r.returncode == 0, r.stderr
        plan = json.loads(edl.read_text())
        assert abs(sf.info(out).duration - plan["duration_s"]) < 0.05
    assert abs(json.loads((tmp_path / "search.json").read_text())["duration_s"] - 25) <= 0.05 * 25


@pytest.mark.parametrize("target, message", [("9999", "longer than"), ("0", "must be a positive"), ("-4", "must be a positive")])
def test_edit_bad_targets_exit_2(song, tmp_path, target, message, capsys):
    assert main(["edit", str(song), "--target-seconds", target, "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x.wav").exists()


def test_edit_song_shorter_than_two_bars_exits_2(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    sr = 44100
    y = np.zeros(int(2.2 * sr), np.float32)
    for k in range(4):  # four clicks: one bar at 120 BPM
        i = int((0.2 + 0.5 * k) * sr)
        y[i : i + 800] = np.sin(np.arange(800) * 0.2) * np.exp(-np.arange(800) / 200)
    p = tmp_path / "one_bar.wav"
    sf.write(p, y, sr)
    assert main(["edit", str(p), "--target-seconds", "1", "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "one_bar.wav" in err and "beats found" in err


def test_edit_unknown_policy_exits_2(song, tmp_path, capsys):
    assert main(["edit", str(song), "--target-seconds", "20", "--policy", "ppo", "--out", str(tmp_path / "x.wav")]) == 2
    assert "baseline:NAME" in capsys.readouterr().err


def test_reward_pretrain_train_score(tmp_path, synth_corpus):
    import shutil

    songs = tmp_path / "songs"
    songs.mkdir()
    for p in synth_corpus[:4]:
        shutil.copy(p, songs / p.name)
        shutil.copy(p.with_suffix(".truth.json"), songs / p.with_suffix(".truth.json").name)
    tiny = ["--set", "reward_model.d_model=32", "--set", "reward_model.n_layers=1", "--set", "reward_model.n_heads=2", "--set", "reward_model.d_ff=64",
            "--set", "reward_train.max_epochs=2", "--set", f"corpus.store_dir={tmp_path / 'fs'}"]
    shutil.copy(synth_corpus[4], songs / "a recording.wav")  # no truth file, no cached references: heard through the analysis
    (tmp_path / "refs").mkdir()
    ckpt = tmp_path / "r.pt"
    r = run_cli("reward", "pretrain", "--songs", songs, "--pairs", "60", "--references", tmp_path / "refs", "--out", ckpt, *tiny, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "4 of 5 songs heard through their truth or references; the raters hear the analysis of a recording" in r.stderr
    assert "validation accuracy" in r.stdout and ckpt.exists() and ckpt.with_suffix(".pairs.jsonl").exists()
    assert "explicit path (transformers frozen)" in r.stderr and "the explicit path alone" in r.stderr  # 60 pairs: too few for the transformers
    assert "reward epoch" not in r.stderr
    assert "songs (analysed unless stored)" in r.stderr and "5/5" in r.stderr  # a fresh store: the analyses show progress
    r = run_cli("reward", "train", "--preferences", ckpt.with_suffix(".pairs.jsonl"), "--songs", songs, "--pretrained", ckpt, "--out", tmp_path / "r2.pt", *tiny,
                "--set", "reward_train.transformer_min_pairs=10", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "reward epoch   1:" in r.stderr  # per-epoch progress lines of the joint phase
    edls = []
    for name in ("search", "random"):
        e = tmp_path / f"{name}.json"
        assert run_cli("edit", songs / "song_000.wav", "--target-seconds", "20", "--policy", f"baseline:{name}", "--out", tmp_path / f"{name}.wav", "--edl", e).returncode == 0
        edls += ["--edl", e]
    r = run_cli("reward", "score", "--checkpoint", tmp_path / "r2.pt", "--song", songs / "song_000.wav", *edls)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert [x["edl"] for x in lines] == [str(tmp_path / "search.json"), str(tmp_path / "random.json")]
    assert all(set(x) == {"edl", "reward", "std"} and -10 <= x["reward"] <= 10 for x in lines)


def test_reward_pretrain_refuses_a_missing_references_folder(tmp_path, synth_corpus, capsys):
    assert main(["reward", "pretrain", "--songs", str(synth_corpus[0].parent), "--references", str(tmp_path / "nope"), "--out", str(tmp_path / "r.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--references" in err[0] and "nope" in err[0] and not (tmp_path / "r.pt").exists()


def test_reward_train_rejects_a_bad_file_with_its_line(tmp_path, synth_corpus, capsys):
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"pair_id": "x"}\n')
    assert main(["reward", "train", "--preferences", str(bad), "--songs", str(synth_corpus[0].parent), "--out", str(tmp_path / "r.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "p.jsonl: line 1" in err[0]


def test_candidates_writes_edits_and_a_manifest(synth_corpus, tmp_path):
    import shutil

    songs = tmp_path / "songs"
    songs.mkdir()
    for p in synth_corpus[:2]:
        shutil.copy(p, songs / p.name)
    out = tmp_path / "cands"
    r = run_cli("candidates", "--songs", songs, "--per-song", 3, "--temperatures", "0.2,0.8", "--out", out,
                "--set", f"corpus.store_dir={tmp_path / 'features'}", timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "evaluation_manifest.json").read_text())
    per_song = {}
    for c in m["candidates"]:
        per_song.setdefault(c["song_id"], []).append(c)
        assert Path(c["audio_path"]).is_file() and (out / c["edl"]).is_file()
    assert set(per_song) == {p.stem for p in synth_corpus[:2]}
    assert all({"search", "plain_cut", "every_other_phrase"} <= {c["source"] for c in cs} and len(cs) >= 3 for cs in per_song.values())
    n_pairs = sum(len(cs) * (len(cs) - 1) // 2 for cs in per_song.values())
    song_of = {c["candidate_id"]: c["song_id"] for c in m["candidates"]}
    assert len(m["pairs"]) == n_pairs and all(song_of[p["a_id"]] == song_of[p["b_id"]] == p["song_id"] for p in m["pairs"])
    assert str(out / "evaluation_manifest.json") in r.stdout
    # Made again with another seed: ids are content addresses, so no id changes what it names, no audio is rewritten.
    before = {c["candidate_id"]: (json.dumps(c["edl"]), Path(c["audio_path"]).stat().st_mtime_ns) for c in m["candidates"]}
    edls = {c["candidate_id"]: (out / c["edl"]).read_text() for c in m["candidates"]}
    r = run_cli("candidates", "--songs", songs, "--per-song", 3, "--temperatures", "0.2,0.8", "--out", out, "--seed", 7, "--section-plans", 2,
                "--set", f"corpus.store_dir={tmp_path / 'features'}", timeout=300)
    assert r.returncode == 0, r.stderr
    again = json.loads((out / "evaluation_manifest.json").read_text())["candidates"]
    assert any(c["source"] == "section" and c["model"] == "baseline:section" for c in again)  # searches favouring random sections
    for c in again:
        if c["candidate_id"] in before:
            assert (json.dumps(c["edl"]), Path(c["audio_path"]).stat().st_mtime_ns) == before[c["candidate_id"]]
            assert (out / c["edl"]).read_text() == edls[c["candidate_id"]]
    assert {c["candidate_id"] for c in again if c["source"] == "search"} <= set(before)  # the same search edit: the same id


@pytest.mark.parametrize("args, word", [
    (["candidates", "--songs", "nowhere", "--out", "x"], "nowhere"),
    (["candidates", "--songs", ".", "--out", "x", "--temperatures", "hot,cold"], "hot,cold"),
    (["serve", "--checkpoint", "no-such-ckpt", "--data", "x"], "no-such-ckpt"),
    (["serve", "--checkpoint", "x", "--data", "x", "--port", "70000"], "70000"),
])
def test_candidates_and_serve_bad_arguments_exit_2(args, word, tmp_path):
    r = run_cli(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and word in r.stderr, r.stderr
