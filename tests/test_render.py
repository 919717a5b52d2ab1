"""Rendering: no clicks at seams, exact lengths, source rate and channels kept, deterministic."""

import numpy as np
import pytest

from editor_rl.audio.analysis import analyze_file
from editor_rl.audio.io import decode_audio
from editor_rl.editors.baselines import every_other_phrase
from editor_rl.edit.render import render_plan, render_segments

SR = 44100


def _two_sines(freq=440.0, phase_b=2.0, amp=0.5):
    """1 s of a sine, then 1 s of the same sine at another phase (the source to splice)."""
    t = np.arange(SR) / SR
    a = amp * np.sin(2 * np.pi * freq * t)
    b = amp * np.sin(2 * np.pi * freq * t + phase_b)
    return np.concatenate([a, b])[:, None].astype(np.float32)


def _max_jump(x):
    return float(np.abs(np.diff(x, axis=0)).max())


@pytest.mark.parametrize("phase_b", [0.7, 2.0, np.pi])
def test_sine_splice_seam_jump_no_bigger_than_signal(phase_b):
    """The seam's largest step equals the sine's own, to 0.1 % (zero crossings snap to whole
    samples, leaving up to one sample of phase error across the 20 ms crossfade)."""
    src = _two_sines(phase_b=phase_b)
    own = _max_jump(src[: SR // 2])
    out = render_segments(src, sample_rate=SR, spans_s=[(0.2, 0.6017), (1.3, 1.7)], edge_fade_ms=0)
    seam = int(0.4 * SR)
    assert _max_jump(out[seam - 2000 : seam + 2000]) <= own * 1.001
    # The same splice without a crossfade clicks.
    butt = np.concatenate([src[int(0.2 * SR) : int(0.6017 * SR)], src[int(1.3 * SR) : int(1.7 * SR)]])
    assert _max_jump(butt) > 3 * own


def test_crossfade_keeps_level_of_uncorrelated_material(rng):
    noise = rng.standard_normal((2 * SR, 1)).astype(np.float32) * 0.1
    out = render_segments(noise, sample_rate=SR, spans_s=[(0.1, 0.6), (1.1, 1.6)], edge_fade_ms=0)
    seam = int(0.5 * SR)
    around = out[seam - 400 : seam + 400]
    assert np.sqrt(np.mean(around**2)) == pytest.approx(0.1, rel=0.15)


def test_length_is_sum_of_spans_without_snapping():
    src = _two_sines()
    out = render_segments(src, sample_rate=SR, spans_s=[(0.0, 0.5), (1.0, 1.25)], zero_cross_window_ms=0)
    assert len(out) == int(0.75 * SR)


def test_fade_out_and_edges():
    src = _two_sines()
    out = render_segments(src, sample_rate=SR, spans_s=[(0.3, 1.0)], fade_out_s=0.2)
    assert abs(out[-1, 0]) < 1e-3 and abs(out[0, 0]) < 0.05
    assert np.abs(out[-int(0.01 * SR) :]).max() < 0.05


@pytest.fixture(scope="module")
def rendered(song, config):
    analysis = analyze_file(song, config=config)
    audio = decode_audio(song)
    plan = every_other_phrase(analysis, target_seconds=0.5 * analysis.duration_s, keep_promise=False)  # seams on phrase boundaries
    return audio, plan, render_plan(audio, plan, config=config.render)


def test_rendered_edit_keeps_rate_channels_and_length(rendered):
    audio, plan, out = rendered
    assert out.shape[1] == audio.channels == 2 and out.dtype == np.float32
    assert abs(len(out) / audio.sample_rate - plan.duration_s) < 0.003 * max(1, plan.n_seams)


def test_rendered_edit_has_no_clicks(rendered):
    audio, plan, out = rendered
    own = _max_jump(audio.samples)
    hw = int(0.02 * audio.sample_rate)
    assert plan.n_seams >= 2
    for seg in plan.segments[1:]:
        i = int(round(seg.out_start_s * audio.sample_rate))
        window = out[max(0, i - 2 * hw) : i + 2 * hw]
        assert _max_jump(window) <= own


def test_rendering_is_deterministic(rendered, config):
    audio, plan, out = rendered
    again = render_plan(audio, plan, config=config.render)
    assert np.array_equal(out, again)


def _joined_from_copies(samples, cuts, half):
    """The join written the plain way: each cut copied whole (zeros past the source), faded over its
    seams and added in (what the in-place join must equal, bit for bit)."""
    from editor_rl.edit.render import _crossfade_gains, _take

    out = np.zeros((sum(e - s for s, e in cuts), samples.shape[1]), np.float32)
    hs = [min(half, (e0 - s0) // 2, (e1 - s1) // 2) for (s0, e0), (s1, e1) in zip(cuts, cuts[1:])]
    gains = [_crossfade_gains(_take(samples, e0 - h, e0 + h), _take(samples, s1 - h, s1 + h)) if h > 0 else None
             for h, (s0, e0), (s1, e1) in zip(hs, cuts, cuts[1:])]
    pos = 0
    for i, (s, e) in enumerate(cuts):
        h_in, h_out = (hs[i - 1] if i else 0), (hs[i] if i < len(hs) else 0)
        chunk = _take(samples, s - h_in, e + h_out)
        if h_in:
            chunk[: 2 * h_in] *= gains[i - 1][1][:, None]
        if h_out:
            chunk[len(chunk) - 2 * h_out :] *= gains[i][0][:, None]
        out[pos - h_in : pos - h_in + len(chunk)] += chunk
        pos += e - s
    return out


def test_the_join_reads_each_cut_in_place_with_the_same_samples(rng):
    from editor_rl.edit.render import _joined

    x = (0.2 * rng.standard_normal((SR * 3, 2))).astype(np.float32)
    for _ in range(40):
        k = int(rng.integers(1, 6))
        pts = np.sort(rng.integers(0, len(x), 2 * k))
        cuts = [(int(a), int(b)) for a, b in zip(pts[0::2], pts[1::2]) if b > a]
        rng.shuffle(cuts)
        half = int(rng.choice([0, 50, 441, 20_000]))  # none, short, the default 20 ms, longer than some cuts
        got, want = _joined(x, cuts, half=half), _joined_from_copies(x, cuts, half)
        assert got.shape == want.shape and np.array_equal(got.view(np.uint32), want.view(np.uint32))  # -0.0 and 0.0 told apart
