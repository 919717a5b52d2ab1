"""Shared fixtures: a seeded rng, a session corpus of synthetic songs, and one Ray instance.

One Ray instance serves the whole test session (these machines have 2 cores) and is shut down
at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from editor_rl.audio.synth import write_corpus
from editor_rl.config import Config, SynthConfig

SEED = 1234


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
