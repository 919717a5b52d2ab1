"""An upload is staged by the ingress and kept by an Editor: keeping is safe to repeat, also twice at
once on the same staged file (a retry on another replica while the first is still at work)."""

import threading

import pytest

from editor_rl.audio.analysis import file_hash
from editor_rl.corpus.store import FeatureStore
from editor_rl.errors import InvalidAudioError
from editor_rl.serving.uploads import keep_upload, stage_upload

FORMATS = ("wav", "ogg", "mp3", "flac")


@pytest.fixture
def uploads(tmp_path):
    return tmp_path / "uploads"


def _analyse(store, config, barrier=None):
    def analyse(path, digest):
        if barrier is not None:
            barrier.wait(timeout=60)  # both attempts are at work before either keeps the file
        return store.load_song(path, config=config, content_hash=digest)

    return analyse


def test_a_kept_upload_is_named_by_its_content_and_a_second_one_finds_it(uploads, song, config, tmp_path):
    store = FeatureStore(tmp_path / "features")
    staged = stage_upload(song.read_bytes(), "My Song.WAV", uploads=uploads, allowed_formats=FORMATS)
    sid, path, analysis = keep_upload(staged, uploads=uploads, filename="My Song.WAV", analyse=_analyse(store, config))
    assert sid == f"upload-{file_hash(song)}" and path == uploads / f"{sid}.wav" and path.read_bytes() == song.read_bytes()
    assert analysis is not None and analysis.n_beats > 0 and not staged.exists()
    again = stage_upload(song.read_bytes(), "copy.wav", uploads=uploads, allowed_formats=FORMATS)
    assert keep_upload(again, uploads=uploads, filename="copy.wav", analyse=_analyse(store, config)) == (sid, path, None)
    assert keep_upload(staged, uploads=uploads, filename="My Song.WAV", analyse=_analyse(store, config)) == (sid, path, None)  # a retry after the first kept it
    assert sorted(p.name for p in uploads.iterdir()) == [path.name]


def test_two_attempts_at_once_on_one_staged_file_both_answer_its_id(uploads, song, config, tmp_path):
    staged = stage_upload(song.read_bytes(), "song.wav", uploads=uploads, allowed_formats=FORMATS)
    barrier, results, errors = threading.Barrier(2), [], []

    def attempt(k):
        try:
            results.append(keep_upload(staged, uploads=uploads, filename="song.wav", analyse=_analyse(FeatureStore(tmp_path / f"features{k}"), config, barrier)))
        except Exception as e:  # noqa: BLE001 - any error fails the test below
            errors.append(e)

    threads = [threading.Thread(target=attempt, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len({(sid, path) for sid, path, _ in results}) == 1 and len(results) == 2
    assert sorted(p.name for p in uploads.iterdir()) == [results[0][1].name]


def test_bad_audio_is_refused_naming_the_file_and_nothing_is_kept(uploads, config, tmp_path):
    staged = stage_upload(b"RIFF but not really a wave file" * 10, "broken.wav", uploads=uploads, allowed_formats=FORMATS)
    with pytest.raises(InvalidAudioError, match="broken.wav") as e:
        keep_upload(staged, uploads=uploads, filename="broken.wav", analyse=_analyse(FeatureStore(tmp_path / "f"), config))
    assert staged.name not in str(e.value) and list(uploads.iterdir()) == []
    with pytest.raises(InvalidAudioError, match="no staged upload"):
        keep_upload(staged, uploads=uploads, filename="broken.wav", analyse=_analyse(FeatureStore(tmp_path / "f"), config))
    with pytest.raises(InvalidAudioError, match="no staged upload"):
        keep_upload(uploads / ".." / "elsewhere.wav", uploads=uploads, filename="x.wav", analyse=_analyse(FeatureStore(tmp_path / "f"), config))
    with pytest.raises(InvalidAudioError, match="empty file"):
        stage_upload(b"", "x.wav", uploads=uploads, allowed_formats=FORMATS)
    with pytest.raises(InvalidAudioError, match="unsupported format '.txt'"):
        stage_upload(b"abc", "x.txt", uploads=uploads, allowed_formats=FORMATS)
