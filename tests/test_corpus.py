"""The Parquet feature store and parallel analysis as Ray tasks."""

import shutil

import numpy as np
import pytest

from editor_rl.audio.analysis import analysis_version, analyze_file, file_hash
from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, song_id
from editor_rl.errors import EditorRLError, StoreError


def test_store_round_trip(song, config, tmp_path):
    a = analyze_file(song, config=config)
    store = FeatureStore(tmp_path / "fs")
    path = store.put(a)
    assert path.name == f"{a.content_hash}-{a.version}.parquet"
    b = store.get(a.content_hash, a.version)
    for field in ("song_id", "path", "content_hash", "version", "duration_s", "sample_rate", "channels", "tempo_bpm"):
        assert getattr(a, field) == getattr(b, field)
    for field in ("beats_s", "bar_pos", "phrase_pos", "features"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not list((tmp_path / "fs").glob(".*tmp"))


def test_key_changes_with_analysis_config(song, config):
    from editor_rl.config import load_config

    other = load_config(overrides=["audio.hop_length=256"])
    assert analysis_version(config) != analysis_version(other)
    assert analysis_version(config) == analysis_version(load_config(overrides=["render.crossfade_ms=50"]))


def test_missing_and_corrupt_entries(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(StoreError, match="no analysis for content hash 'abc'"):
        store.get("abc", "v1")
    (tmp_path / "abc-v1.parquet").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="unreadable"):
        store.get("abc", "v1")


def test_song_ids_are_unique_stems(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "a.mp3").write_bytes(b"x")
    with pytest.raises(EditorRLError, match="song id 'a' is ambiguous"):
        list_songs(tmp_path)
    assert song_id("x/y/foo.flac") == "foo"


def test_parallel_analysis_skips_stored_and_reports_corrupt(ray_session, synth_corpus, config, tmp_path):
    songs_dir = tmp_path / "songs"
    songs_dir.mkdir()
    for p in synth_corpus[:3]:
        shutil.copy(p, songs_dir / p.name)
    (songs_dir / "broken.wav").write_bytes(b"RIFF....not really a wave file" * 10)
    store = FeatureStore(tmp_path / "fs")
    report = analyze_corpus(list_songs(songs_dir), store=store, config=config, progress=False)
    assert report.analysed == ["song_000", "song_001", "song_002"]
    assert list(report.failed) == ["broken"] and "broken.wav" in report.failed["broken"]
    assert len(store) == 3
    # Stored songs are skipped the second time; the broken one is reported again.
    again = analyze_corpus(list_songs(songs_dir), store=store, config=config, progress=False)
    assert again.analysed == [] and sorted(again.skipped) == ["song_000", "song_001", "song_002"]
    # What the tasks stored equals an in-process analysis.
    p = songs_dir / "song_001.wav"
    stored = store.get(file_hash(p), analysis_version(config))
    local = analyze_file(p, config=config)
    assert np.array_equal(stored.phrase_pos, local.phrase_pos)  # BLAS and torch threading differ by process:
    np.testing.assert_allclose(stored.beats_s, local.beats_s, rtol=0, atol=1e-6)  # beats within a microsecond
    np.testing.assert_allclose(stored.features, local.features, rtol=1e-4, atol=1e-3)


def test_a_moved_copy_keeps_its_own_identity(song, config, tmp_path):
    store = FeatureStore(tmp_path / "store")
    first = store.load_song(song, config=config)
    moved = tmp_path / "elsewhere" / "renamed.wav"
    moved.parent.mkdir()
    shutil.copy(song, moved)
    shutil.copy(song.with_suffix(".truth.json"), moved.with_suffix(".truth.json"))
    again = store.load_song(moved, config=config)  # same bytes: the stored analysis, not a new one
    assert len(store) == 1 and again.content_hash == first.content_hash
    assert (again.song_id, again.path) == ("renamed", str(moved))
    from editor_rl.raters.tastes import song_view

    assert song_view(again).chorus.any() and np.array_equal(song_view(again).chorus, song_view(first).chorus)  # the truth file is found where the copy is
