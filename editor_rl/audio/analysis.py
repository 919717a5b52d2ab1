"""One song in, one :class:`SongAnalysis` out: decode → one STFT → beats → structure → features."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, NamedTuple, TypeVar

import numpy as np

from editor_rl.audio import beats as beatlib
from editor_rl.audio import downbeats, learned_tracker, madmom_tracker
from editor_rl.audio.features import FEATURE_VERSION, Frames, beat_ends, beat_features, beat_frame_bounds, spectral_frames
from editor_rl.audio.io import Audio, decode_audio, to_analysis_signal
from editor_rl.audio.mood import beat_moods
from editor_rl.audio.structure import Structure, song_structure
from editor_rl.config import BeatConfig, Config
from editor_rl.errors import InvalidAudioError

T = TypeVar("T")


@dataclass(frozen=True)
class SongAnalysis:
    """Everything editor-rl knows about a song, per beat.

    Attributes
    ----------
    song_id : str
        The file stem.
    path : str
        Where the audio was read from.
    content_hash : str
        sha256 of the file's bytes (first 16 hex digits).
    version : str
        Analysis-config version (see :func:`analysis_version`).
    duration_s : float
        Song length, seconds.
    sample_rate : int
        The source's own rate, Hz (rendering uses it).
    channels : int
        The source's own channel count.
    tempo_bpm : float
    beats_s : np.ndarray [shape=(n,), dtype=float64]
        Beat times, seconds.
    bar_pos : np.ndarray [shape=(n,), dtype=int64]
        Position in bar (0 = downbeat).
    phrase_pos : np.ndarray [shape=(n,), dtype=int64]
        Position in 8-beat phrase (0 = phrase start).
    features : np.ndarray [shape=(n, 125), dtype=float32]
        Columns named by ``editor_rl.audio.features.FEATURE_NAMES``.
    """

    song_id: str
    path: str
    content_hash: str
    version: str
    duration_s: float
    sample_rate: int
    channels: int
    tempo_bpm: float
    beats_s: np.ndarray
    bar_pos: np.ndarray
    phrase_pos: np.ndarray
    features: np.ndarray

    @property
    def n_beats(self) -> int:
        """Number of beats."""
        return int(len(self.beats_s))

    @property
    def downbeats_s(self) -> np.ndarray:
        """Bar starts, seconds."""
        return self.beats_s[self.bar_pos == 0]

    @property
    def phrase_starts_s(self) -> np.ndarray:
        """Phrase starts, seconds."""
        return self.beats_s[self.phrase_pos == 0]

    @functools.cached_property
    def structure(self) -> Structure:
        """Sections, repetition classes and the hook (:mod:`editor_rl.audio.structure`), computed
        once from the features and phrase positions."""
        return song_structure(self.features, self.phrase_pos)

    @functools.cached_property
    def mood(self) -> np.ndarray:
        """Every beat's estimated (arousal, valence) in [-1, 1], shape (n_beats, 2)
        (:func:`editor_rl.audio.mood.beat_moods`), computed once."""
        return beat_moods(self.features, tempo_bpm=self.tempo_bpm)

    @property
    def beat_ends_s(self) -> np.ndarray:
        """End of each beat, seconds: the next beat, and for the last one a median beat later."""
        return beat_ends(self.beats_s, duration_s=self.duration_s)

    @functools.cached_property
    def derived(self) -> dict:
        """What the layers above derive from this analysis, made once per analysis object, each under
        its own key (the tables an edit's model input reads, an env's song cache, the planner): an
        analysis never changes, so they never go stale, and they go when it goes. Never pickled."""
        return {}

    def derive(self, key: Hashable, make: Callable[[], T]) -> T:
        """``derived[key]``, made by ``make()`` the first time it is asked for."""
        got = self.derived.get(key)
        return got if got is not None else self.derived.setdefault(key, make())

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("derived", None)
        return state

    def summary(self) -> dict:
        """The fields ``editor-rl analyze --json`` prints."""
        return {
            "song_id": self.song_id,
            "duration_s": round(self.duration_s, 4),
            "tempo_bpm": round(self.tempo_bpm, 3),
            "beats_s": [round(float(b), 4) for b in self.beats_s],
            "downbeats_s": [round(float(b), 4) for b in self.downbeats_s],
            "phrase_starts_s": [round(float(b), 4) for b in self.phrase_starts_s],
            "n_beats": self.n_beats,
            "sections": [{"start_s": round(float(self.beats_s[b]), 4), "label": int(self.structure.label[b]), "hook": bool(self.structure.hook[b]),
                          "arousal": round(float(self.mood[self.structure.section == k, 0].mean()), 3),
                          "valence": round(float(self.mood[self.structure.section == k, 1].mean()), 3)}
                         for k, b in enumerate(self.structure.starts)],
            "mood": [[round(float(x), 3) for x in m] for m in self.mood],
            "feature_dim": int(self.features.shape[1]),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
        }


def analysis_version(config: Config) -> str:
    """Short hash of everything that changes an analysis's result (the audio and beat settings and
    the feature definition).

    Part of the feature-store key, so changing the analysis settings or the feature set never
    serves a stale analysis.
    """
    beats = dataclasses.asdict(config.beats)
    tracker = config.beats.tracker
    if tracker not in ("madmom", "auto"):
        del beats["madmom_networks"]  # madmom's settings change nothing the other trackers make
    if tracker in ("learned", "auto"):  # retrained weights make new analyses
        beats["learned_weights"] = learned_tracker.weights_digest(config.beats.learned_weights or learned_tracker.WEIGHTS)
    else:
        del beats["learned_weights"]
    if tracker != "auto":
        del beats["auto_min_beat_confidence"], beats["auto_min_bar_contrast"]
    payload = json.dumps({"audio": dataclasses.asdict(config.audio), "beats": beats, "features": FEATURE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, first 16 hex digits: a song's content hash."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def bytes_hash(data: bytes) -> str:
    """:func:`file_hash` of a file holding ``data``, from the bytes in memory."""
    return hashlib.sha256(data).hexdigest()[:16]


class BeatGrid(NamedTuple):
    """A song's beats and what the bar and phrase decisions are made from.

    Attributes
    ----------
    frames : Frames
        The one STFT's frame-level features.
    tempo_bpm : float
        The tracker's tempo.
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds, refined to onsets.
    bounds : np.ndarray [shape=(n + 1,), dtype=int]
        Beat ``i`` covers frames ``bounds[i]:bounds[i+1]``.
    descriptors : np.ndarray [shape=(n, len(downbeats.NAMES))]
        :func:`editor_rl.audio.downbeats.bar_descriptors`.
    duration_s : float
        Length of the analysis signal, seconds.
    bar_pos : np.ndarray [shape=(n,), dtype=int64]
        Each beat's position in its bar (0 at a bar line): the Viterbi decoding of the descriptors'
        bar evidence, or the learned tracker's / madmom's (``beats.tracker``).
    """

    frames: Frames
    tempo_bpm: float
    beats_s: np.ndarray
    bounds: np.ndarray
    descriptors: np.ndarray
    duration_s: float
    bar_pos: np.ndarray


def madmom_grid(audio: Audio, *, config: BeatConfig) -> tuple[float, np.ndarray, np.ndarray]:
    """Tempo (BPM), beats (s) and bar positions by madmom's RNN + DBN (:mod:`editor_rl.audio.madmom_tracker`)."""
    beats_s, bar_pos = madmom_tracker.track(to_analysis_signal(audio, sample_rate=madmom_tracker.SAMPLE_RATE), beats_per_bar=config.beats_per_bar,
                                            networks=config.madmom_networks)
    return (float(60.0 / np.median(np.diff(beats_s))) if len(beats_s) > 1 else 0.0), beats_s, bar_pos


def learned_or_madmom(audio: Audio, *, config: BeatConfig, signal: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Tempo (BPM), beats (s) and bar positions by the learned tracker; with ``tracker: auto``, by
    madmom instead where the learned tracker is not sure of them (:meth:`Tracked.sure`).
    ``signal``: the mono signal at the learned tracker's rate when the caller has it."""
    y = signal if signal is not None else to_analysis_signal(audio, sample_rate=learned_tracker.SAMPLE_RATE)
    got = learned_tracker.track(y, beats_per_bar=config.beats_per_bar,
                                min_bpm=config.tempo_min_bpm, max_bpm=config.tempo_max_bpm, tightness=config.tightness,
                                weights=config.learned_weights or learned_tracker.WEIGHTS)
    if config.tracker == "auto" and not got.sure(min_beat_confidence=config.auto_min_beat_confidence, min_bar_contrast=config.auto_min_bar_contrast):
        return madmom_grid(audio, config=config)
    return got.tempo_bpm, got.beats_s, got.bar_pos


def beat_grid(audio: Audio, *, config: Config, name: str = "audio") -> BeatGrid:
    """Decode-side steps of the analysis: one STFT, tempo, beats and bars, each beat's descriptors.

    Raises
    ------
    InvalidAudioError
        Fewer than ``config.beats.min_beats`` beats were found (``name`` says which file).
    ConfigError
        ``beats.tracker`` is madmom and madmom is not installed, or learned and its weights are missing.
    """
    ac, bc = config.audio, config.beats
    sr = ac.sample_rate
    y = to_analysis_signal(audio, sample_rate=sr)
    if bc.tracker == "fast":  # tracks the features' own onsets
        frames = spectral_frames(y, sr=sr, n_fft=ac.n_fft, hop_length=ac.hop_length)
        tempo, beat_frames = beatlib.track_beats(frames.onset, sr=sr, hop_length=ac.hop_length, config=bc)
        beats_s = beatlib.refine_to_onsets(y, beat_frames * ac.hop_length / sr, sr=sr, window_s=bc.refine_window_s) if len(beat_frames) else np.zeros(0)
        tracked_bar_pos = None
    else:  # the tracker reads its own spectrogram: it runs on a second thread while the features' STFT runs on this one
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="beat-tracker") as pool:
            tracked = pool.submit(madmom_grid, audio, config=bc) if bc.tracker == "madmom" else \
                pool.submit(learned_or_madmom, audio, config=bc, signal=y if sr == learned_tracker.SAMPLE_RATE else None)
            frames = spectral_frames(y, sr=sr, n_fft=ac.n_fft, hop_length=ac.hop_length)
            tempo, beats_s, tracked_bar_pos = tracked.result()
    if len(beats_s) < bc.min_beats:
        raise InvalidAudioError(f"{name}: only {len(beats_s)} beats found; at least {bc.min_beats} are needed")
    duration = len(y) / sr
    bounds = beat_frame_bounds(beats_s, n_frames=frames.n_frames, sr=sr, hop_length=ac.hop_length, duration_s=duration)
    descriptors = downbeats.bar_descriptors(frames, bounds)
    bar_pos = tracked_bar_pos if tracked_bar_pos is not None else beatlib.bar_positions(downbeats.heuristic_evidence(descriptors), beats_per_bar=bc.beats_per_bar)
    return BeatGrid(frames=frames, tempo_bpm=tempo, beats_s=beats_s, bounds=bounds, descriptors=descriptors, duration_s=duration, bar_pos=bar_pos)


def analyze_audio(audio: Audio, *, config: Config, song_id: str = "", content_hash: str = "") -> SongAnalysis:
    """Analyse decoded audio.

    Parameters
    ----------
    audio : Audio
    config : Config
        ``config.audio`` (rates, STFT) and ``config.beats`` are used.
    song_id, content_hash : str
        Identity recorded in the result.

    Returns
    -------
    SongAnalysis

    Raises
    ------
    InvalidAudioError
        Fewer than ``config.beats.min_beats`` beats were found.
    """
    bc = config.beats
    grid = beat_grid(audio, config=config, name=Path(audio.path).name or song_id or "audio")
    bar_pos = grid.bar_pos
    phrase_pos = beatlib.phrase_positions(bar_pos, downbeats.phrase_evidence(grid.descriptors), beats_per_bar=bc.beats_per_bar, beats_per_phrase=bc.beats_per_phrase)
    feats = beat_features(grid.frames, beats_s=grid.beats_s, phrase_pos=phrase_pos, duration_s=grid.duration_s, bounds=grid.bounds)
    ibis = np.diff(grid.beats_s)
    tempo_med = float(60.0 / np.median(ibis)) if len(ibis) else grid.tempo_bpm
    return SongAnalysis(
        song_id=song_id, path=audio.path, content_hash=content_hash, version=analysis_version(config),
        duration_s=audio.duration_s, sample_rate=audio.sample_rate, channels=audio.channels, tempo_bpm=tempo_med,
        beats_s=grid.beats_s, bar_pos=bar_pos, phrase_pos=phrase_pos, features=feats,
    )


def warm_up(*, config: Config) -> None:
    """Analyse 16 s of clicks once, so that the first song a process analyses does not also pay for
    the lazy imports, the functions compiled at their first call and the tracker's weights (about
    4 s on 2 cores; with ``tracker: auto`` both its trackers, madmom's ~0.6 s, or ~6 s where
    numba's cache of :mod:`editor_rl.audio.madmom_fast` is not written yet): a server calls it as
    it starts."""
    sr = config.audio.sample_rate
    t = np.arange(16 * sr) / sr
    clicks = Audio(samples=(np.sin(2 * np.pi * 110.0 * t) * np.exp(-20.0 * (t % 0.5))).astype(np.float32)[:, None], sample_rate=sr)  # a kick every 0.5 s
    trackers = ("learned", "madmom") if config.beats.tracker == "auto" else (config.beats.tracker,)  # auto: its own, and the fallback
    for tracker in trackers:
        try:
            analyze_audio(clicks, config=dataclasses.replace(config, beats=dataclasses.replace(config.beats, tracker=tracker)))
        except InvalidAudioError:  # what counts here is what the analysis loaded, not what it found
            pass


def analyze_file(path: str | Path, *, config: Config, content_hash: str | None = None) -> SongAnalysis:
    """Decode, validate and analyse one audio file (no Ray); ``content_hash``: its
    :func:`file_hash` where the caller has it.

    Raises
    ------
    InvalidAudioError
        The file is unusable (see :func:`editor_rl.audio.io.decode_audio`) or has too few beats.
    """
    ac = config.audio
    audio = decode_audio(path, max_duration_s=ac.max_duration_s, silence_dbfs=ac.silence_dbfs, allowed_formats=ac.allowed_formats)
    return analyze_audio(audio, config=config, song_id=Path(path).stem, content_hash=content_hash or file_hash(path))
