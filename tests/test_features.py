import numpy as np
import pytest

from editor_rl.audio.analysis import analyze_file
from editor_rl.audio.features import FEATURE_DIM, FEATURE_NAMES, FEATURE_UNITS, beat_frame_bounds, pool_frames, spectral_frames


def test_feature_names_units_and_dim():
    assert FEATURE_DIM == 125 == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert set(FEATURE_UNITS) == set(FEATURE_NAMES)


@pytest.fixture(scope="module")
def analysis(song, config):
    return analyze_file(song, config=config)


def test_one_finite_vector_per_beat(analysis):
    f = analysis.features
    assert f.shape == (analysis.n_beats, 125) and f.dtype == np.float32
    assert np.isfinite(f).all()
    assert np.all(np.diff(analysis.beats_s) > 0)


def test_phase_columns_match_structure(analysis):
    one_hot = analysis.features[:, FEATURE_NAMES.index("phrase_pos_0") : FEATURE_NAMES.index("phrase_pos_7") + 1]
    assert (one_hot.argmax(axis=1) == analysis.phrase_pos % 8).all()
    assert (analysis.phrase_pos % 4 == analysis.bar_pos).all()


def test_matches_librosa_reference_features(song, config):
    """The shared-STFT descriptors equal librosa's own functions called on the raw signal."""
    import librosa

    from editor_rl.audio.io import decode_audio, to_analysis_signal

    y = to_analysis_signal(decode_audio(song), sample_rate=22050)[: 22050 * 10]
    fr = spectral_frames(y, sr=22050)
    ref_centroid = librosa.feature.spectral_centroid(y=y, sr=22050)[0] / 1000
    ref_rms = librosa.feature.rms(S=np.abs(librosa.stft(y)))[0]
    np.testing.assert_allclose(fr.centroid, ref_centroid, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fr.rms_db, 20 * np.log10(np.maximum(ref_rms, 1e-5)), atol=0.05)
    ref_chroma = librosa.feature.chroma_stft(y=y, sr=22050, tuning=0.0)  # we use a fixed A440 filterbank
    loud = fr.rms_db > -50  # librosa leaves near-silent frames unnormalised
    np.testing.assert_allclose(fr.chroma[:, loud], ref_chroma[:, loud], atol=1e-3)


def test_pooling_mean_std_max():
    x = np.arange(10, dtype=np.float32)[None, :]
    mean, std, mx = pool_frames(x, np.array([0, 4, 10]))
    np.testing.assert_allclose(mean[:, 0], [1.5, 6.5])
    np.testing.assert_allclose(std[:, 0], [np.std([0, 1, 2, 3]), np.std([4, 5, 6, 7, 8, 9])], rtol=1e-6)
    np.testing.assert_allclose(mx[:, 0], [3, 9])


def test_beat_bounds_never_empty():
    b = beat_frame_bounds(np.array([0.0, 0.001, 0.002, 1.0]), n_frames=100, sr=22050, hop_length=512, duration_s=2.0)
    assert np.all(np.diff(b) >= 1)


@pytest.mark.parametrize("n", [1000, 2048, 2049, 66_167])
@pytest.mark.parametrize("hop", [441, 512])
def test_stft_magnitude_equals_librosas(n, hop):
    import librosa

    from editor_rl.audio.features import stft_magnitude

    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    want = np.abs(librosa.stft(y, n_fft=2048, hop_length=hop, dtype=np.complex64))
    got = stft_magnitude(y, n_fft=2048, hop_length=hop)
    np.testing.assert_array_equal(got, want)
    assert got.flags.f_contiguous  # laid out as librosa's: the reductions over it add in the same order


def test_spectral_shape_blocks_equal_the_whole_spectrogram():
    import librosa

    from editor_rl.audio.features import spectral_shape, stft_magnitude

    y = (0.1 * np.random.default_rng(7).standard_normal(22050 * 4)).astype(np.float32)
    S = stft_magnitude(y, n_fft=2048, hop_length=512)  # 173 frames: a block and a part
    power, freqs = S * S, librosa.fft_frequencies(sr=22050, n_fft=2048).astype(np.float32)
    mag_sum = np.maximum(S.sum(axis=0), 1e-10)
    centroid = (freqs[:, None] * S).sum(axis=0) / mag_sum
    bandwidth = np.sqrt(((freqs[:, None] - centroid) ** 2 * S).sum(axis=0) / mag_sum)
    cum = np.cumsum(S, axis=0)
    rolloff = freqs[np.minimum((cum < 0.85 * cum[-1]).sum(axis=0), len(freqs) - 1)]
    flatness = np.exp(np.log(np.maximum(power, 1e-10)).mean(axis=0)) / np.maximum(power.mean(axis=0), 1e-10)
    for got, want in zip(spectral_shape(S, power, freqs=freqs), (centroid, bandwidth, rolloff, flatness)):
        np.testing.assert_array_equal(got, want)
