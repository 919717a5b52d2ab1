"""Shared fixtures: a seeded rng, a session corpus of synthetic songs, and one Ray instance.

One Ray instance serves the whole test session (these machines have 2 cores) and is shut down
at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from editor_rl.audio.synth import write_corpus
from editor_rl.config import Config, SynthConfig

SEED = 1234
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> list[Path]:
    """Eight synthetic songs (40–70 s, 70–180 BPM, some swung, some drifting) with truth files."""
    out = tmp_path_factory.mktemp("synth")
    return write_corpus(out, n=8, seed=SEED, config=SynthConfig())


@pytest.fixture(scope="session")
def song(synth_corpus) -> Path:
    """One synthetic song."""
    return synth_corpus[0]


@pytest.fixture(scope="session")
def truth(song) -> dict:
    return json.loads(song.with_suffix(".truth.json").read_text())


@pytest.fixture(scope="session")
def ray_session():
    """The session's one Ray instance (2 CPUs, no dashboard)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def analyses(synth_corpus, config):
    """Analyses of the session corpus (in-process, no Ray)."""
    from editor_rl.audio.analysis import analyze_file

    return [analyze_file(p, config=config) for p in synth_corpus]


def make_analysis(*, n_bars: int = 8, bpm: float = 120.0, features=None, song_id: str = "toy"):
    """A hand-made SongAnalysis: ``n_bars`` of 4/4 at ``bpm``, phrases of 2 bars."""
    from editor_rl.audio.analysis import SongAnalysis

    n = 4 * n_bars
    beats = np.arange(n) * 60.0 / bpm
    feats = np.zeros((n, 125), np.float32) if features is None else features
    return SongAnalysis(song_id=song_id, path=f"{song_id}.wav", content_hash="0", version="t", duration_s=float(n * 60.0 / bpm),
                        sample_rate=44100, channels=2, tempo_bpm=bpm, beats_s=beats, bar_pos=np.arange(n) % 4,
                        phrase_pos=np.arange(n) % 8, features=feats)


TINY_MODEL = dict(d_model=32, n_layers=1, n_heads=2, d_ff=64, ensemble=3)


@pytest.fixture(scope="session")
def synthetic_pairs(analyses, config):
    """240 synthetic pairs over the session corpus, judged by the pretraining mixture of tastes."""
    from editor_rl.raters.rater import panel
    from editor_rl.raters.synthetic import make_pairs

    return make_pairs(analyses, n_pairs=240, raters=panel(config.rater.pretrain_tastes, seed=3), config=config, seed=3)


@pytest.fixture(scope="session")
def tiny_scorer(synthetic_pairs, analyses):
    """A tiny reward model trained on the session pairs."""
    from editor_rl.config import RewardModelConfig, RewardTrainConfig
    from editor_rl.rewards.train import train_reward_model

    return train_reward_model(synthetic_pairs, {a.song_id: a for a in analyses}, model_config=RewardModelConfig(**TINY_MODEL),
                              train_config=RewardTrainConfig(max_epochs=12, patience=4, lr=2e-3, transformer_min_pairs=100), log=lambda m: None)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_scorer, tmp_path_factory):
    return tiny_scorer.save(tmp_path_factory.mktemp("reward") / "tiny.pt")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL server (Debian's postgresql, started for this test session) → its URL."""
    import getpass
    import glob
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert bins, "PostgreSQL is not installed (Debian's postgresql package: scripts/bootstrap.sh installs it)"
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="editor-rl-pg-"))
    as_user: list[str] = []
    if getpass.getuser() == "root":  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-l", str(root / "log"),
                              "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on", "start"], check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def real_music() -> Path:
    """The real recordings: Debian's game-music packages, fetched by scripts/fetch_real_music.sh
    into .cache/real-music/{train,heldout}/ (once; later sessions reuse them)."""
    dest = ROOT / ".cache" / "real-music"
    run = subprocess.run(["bash", str(ROOT / "scripts" / "fetch_real_music.sh"), str(dest)], capture_output=True, text=True, timeout=1200)
    if run.returncode != 0:
        pytest.skip(f"Debian's music packages cannot be had here: {(run.stderr or run.stdout).strip()[-400:]}")
    return dest


MP3_ENCODINGS = {
    "cbr192": ["-b", "192"],  # CBR with a LAME "Info" tag
    "vbr-v2": ["-V", "2"],  # VBR with a Xing/LAME tag
    "cbr128-notag": ["-t", "-b", "128"],  # no tag at all: libsndfile's frame count is an estimate
    "vbr-v5-id3v2": ["-V", "5", "--id3v2-only", "--tt", "excerpt", "--ta", "editor-rl"],
    "mpeg2-mono-id3v1": ["-m", "m", "-b", "64", "--resample", "22.05", "--id3v1-only", "--tt", "excerpt"],
}


@pytest.fixture(scope="session")
def mp3_corpus(real_music, tmp_path_factory) -> list[Path]:
    """20 intact MP3s made with Debian's lame: 40 s of four real recordings (one per package) in each
    of five encodings (CBR and VBR, with and without the LAME tag, ID3v2 and ID3v1 tags, MPEG-2 mono)."""
    import soundfile as sf

    assert shutil.which("lame"), "Debian's lame is not installed (scripts/bootstrap.sh installs it)"
    out = tmp_path_factory.mktemp("mp3")
    tracks = [sorted((real_music / "train").glob(f"{pkg}-*"))[0] for pkg in ("drascula", "hyperrogue", "nexuiz", "planetblupi")]
    paths = []
    for t in tracks:
        data, sr = sf.read(t, frames=40 * 44100, start=10 * 44100, always_2d=True)
        wav = out / f"{t.stem}.wav"
        sf.write(wav, data, sr)
        for name, flags in MP3_ENCODINGS.items():
            mp3 = out / f"{t.stem}-{name}.mp3"
            subprocess.run(["lame", "--quiet", *flags, str(wav), str(mp3)], check=True)
            paths.append(mp3)
        wav.unlink()
    return paths
