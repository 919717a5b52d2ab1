"""Every way an input file can be bad raises InvalidAudioError naming the file and the problem."""

import numpy as np
import pytest
import soundfile as sf

from editor_rl.audio.analysis import analyze_file
from editor_rl.audio.io import decode_audio, mixdown, to_analysis_signal, write_audio
from editor_rl.errors import InvalidAudioError

SR = 44100


def _tone(seconds=3.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _truncate(path, fraction=0.6):
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * fraction) + 1])
    return path


def make_bad(kind: str, d) -> "Path":  # noqa: F821
    """Write one bad input of the named kind into folder ``d``."""
    if kind == "empty":
        p = d / "empty.wav"
        p.write_bytes(b"")
    elif kind == "not_audio":
        p = d / "notes.wav"
        p.write_bytes(b"this is a text file, not a RIFF header" * 50)
    elif kind == "zero_length":
        p = d / "zero.wav"
        sf.write(p, np.zeros((0, 1), np.float32), SR)
    elif kind == "truncated_wav":
        p = d / "cut.wav"
        sf.write(p, _tone(), SR, subtype="PCM_16")
        _truncate(p)
    elif kind == "truncated_mp3":
        p = d / "cut.mp3"
        sf.write(p, _tone(), SR, format="MP3")
        _truncate(p)
    elif kind == "truncated_flac":
        p = d / "cut.flac"
        sf.write(p, _tone(), SR)
        _truncate(p)
    elif kind == "truncated_ogg":
        p = d / "cut.ogg"
        sf.write(p, _tone(), SR, format="OGG")
        _truncate(p)
    elif kind == "nan":
        p = d / "nan.wav"
        y = _tone()
        y[1000:1010] = np.nan
        sf.write(p, y, SR, subtype="FLOAT")
    elif kind == "inf":
        p = d / "inf.wav"
        y = _tone()
        y[5] = np.inf
        sf.write(p, y, SR, subtype="FLOAT")
    elif kind == "silence":
        p = d / "silence.wav"
        sf.write(p, np.zeros(SR * 3, np.float32), SR)
    elif kind == "unsupported":
        p = d / "song.aiff"
        sf.write(p, _tone(), SR, format="AIFF")
    elif kind == "missing":
        p = d / "does_not_exist.wav"
    else:
        raise ValueError(kind)
    return p


CASES = {
    "empty": "empty",
    "not_audio": "not decodable",
    "zero_length": "zero-length",
    "truncated_wav": "truncated",
    "truncated_mp3": "truncated",
    "truncated_flac": "truncated",
    "truncated_ogg": "truncated: the last Ogg page is cut off",
    "nan": "NaN or infinite",
    "inf": "NaN or infinite",
    "silence": "digital silence",
    "unsupported": "unsupported format 'aiff'",
    "missing": "does not exist",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_raises_naming_file_and_problem(kind, tmp_path):
    p = make_bad(kind, tmp_path)
    with pytest.raises(InvalidAudioError) as info:
        decode_audio(p)
    assert p.name in str(info.value)
    assert CASES[kind] in str(info.value)


def test_too_long_is_checked_from_the_header(tmp_path):
    p = tmp_path / "long.wav"
    sf.write(p, _tone(seconds=12), SR)
    with pytest.raises(InvalidAudioError, match=r"long\.wav: too long: 12\.0 s exceeds the limit of 10 s"):
        decode_audio(p, max_duration_s=10)


def test_too_few_beats(tmp_path, config):
    p = tmp_path / "blip.wav"
    y = np.zeros(int(SR * 2.5), np.float32)
    y[: SR // 10] = _tone(0.1)  # one click, then near-silence with a faint hum
    y += (1e-2 * np.sin(2 * np.pi * 60 * np.arange(len(y)) / SR)).astype(np.float32)
    sf.write(p, y, SR)
    with pytest.raises(InvalidAudioError, match=r"blip\.wav: only \d+ beats found; at least 8 are needed"):
        analyze_file(p, config=config)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_decodes_every_supported_format_keeping_rate_and_channels(fmt, tmp_path):
    y = np.stack([_tone(2.0, 48000), 0.5 * _tone(2.0, 48000)], axis=1)
    p = write_audio(tmp_path / f"stereo.{fmt}", y, sample_rate=48000)
    a = decode_audio(p)
    assert a.sample_rate == 48000 and a.channels == 2
    assert abs(a.duration_s - 2.0) < 0.1  # lossy codecs pad a little
    mono = to_analysis_signal(a, sample_rate=22050)
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert abs(len(mono) / 22050 - a.duration_s) < 1e-3


def test_write_audio_is_atomic_and_clips(tmp_path):
    p = write_audio(tmp_path / "x.wav", np.full((100, 1), 3.0, np.float32), sample_rate=8000)
    y, _ = sf.read(p)
    assert np.abs(y).max() <= 1.0
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("channels, frames, rate", [(2, 150_000, 44100), (1, 7, 22050), (3, 1000, 48000)])
def test_a_wav_render_is_converted_to_16_bits_as_libsndfile_converts_it(tmp_path, channels, frames, rate):
    x = np.random.default_rng(0).uniform(-1.3, 1.3, (frames, channels)).astype(np.float32)  # a render: float32, some samples past full scale
    x[:6, 0] = [-1.0, 1.0, 0.5 / 32768, -0.5 / 32768, 1e-9, -1e-9][:frames]
    ours = write_audio(tmp_path / "ours.wav", x, sample_rate=rate)
    sf.write(tmp_path / "theirs.wav", np.clip(x, -1.0, 1.0), rate, subtype="PCM_16")
    assert ours.read_bytes() == (tmp_path / "theirs.wav").read_bytes()  # header and samples, byte for byte


def test_intact_mp3s_of_many_encodings_are_analysed_and_their_cut_copies_refused(ray_session, mp3_corpus, tmp_path, capsys):
    """libsndfile's frame count includes (LAME tag) or estimates (no tag) the encoder's padding: intact
    files must not be called truncated; files cut anywhere must be."""
    import json
    import shutil

    from editor_rl.apps.cli import main

    intact, cut = tmp_path / "intact", tmp_path / "cut"
    intact.mkdir(), cut.mkdir()
    rng = np.random.default_rng(0)
    for p in mp3_corpus:
        shutil.copy(p, intact / p.name)
        raw = p.read_bytes()
        (cut / p.name).write_bytes(raw[: int(len(raw) * rng.uniform(0.1, 0.97))])
    assert len(mp3_corpus) == 20
    assert main(["analyze", str(intact), "--json", "--store", str(tmp_path / "store")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == {} and len(report["analysed"]) == 20
    assert main(["analyze", str(cut), "--json", "--store", str(tmp_path / "store-cut")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["analysed"] == [] and len(report["failed"]) == 20
    assert all("truncated" in why for why in report["failed"].values()), report["failed"]


def test_real_ogg_and_flac_recordings_are_accepted_and_their_cut_copies_refused(real_music, tmp_path):
    rng = np.random.default_rng(1)
    tracks = sorted((real_music / "heldout").iterdir())
    picks = [t for t in tracks if t.suffix == ".flac"] + [t for t in tracks if t.suffix == ".ogg"][::4]
    for t in picks:
        a = decode_audio(t)
        assert a.duration_s > 20 and a.channels in (1, 2)
        raw = t.read_bytes()
        for frac in (0.3, 0.9):
            p = tmp_path / f"cut{t.suffix}"
            p.write_bytes(raw[: int(len(raw) * frac) + int(rng.integers(0, 1000))])
            with pytest.raises(InvalidAudioError, match="truncated"):
                decode_audio(p)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_mixdown_is_the_channels_mean_to_the_bit(channels):
    x = np.random.default_rng(channels).standard_normal((10_001, channels)).astype(np.float32)
    got = mixdown(x)
    assert got.dtype == np.float32 and got.shape == (10_001,)
    np.testing.assert_array_equal(got, x.mean(axis=1, dtype=np.float32))
