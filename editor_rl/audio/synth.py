"""Synthetic songs with ground truth: beats, downbeats, phrases and sections.

Each song is 4/4 with 8-beat phrases and sections (intro, verse, chorus, bridge, outro) that
differ in harmony, timbre, density and loudness. It has drums (kick on 1 and 3, snare on 2 and
4, hi-hats on eighths, a crash on phrase starts in loud sections), a bass on the chord roots, a
chord pad that changes on every downbeat, and a lead melody. Some songs swing their off-beat
eighths, some drift in tempo. Everything is deterministic given the seed.

Run ``editor-rl synth --out DIR --n N --seed S`` to write ``song_XXX.wav`` files next to
``song_XXX.truth.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from editor_rl.audio.io import write_audio
from editor_rl.audio.mood import MOOD_NAMES, NAMED_MOODS
from editor_rl.config import SynthConfig

SECTION_NAMES = ("intro", "verse", "chorus", "bridge", "outro")
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord progressions as scale degrees (0-based), one chord per bar, four bars.
_PROGRESSIONS = {
    "intro": ((0, 3, 4, 0), (0, 5, 3, 4)),
    "verse": ((0, 5, 3, 4), (0, 3, 5, 4), (5, 3, 0, 4)),
    "chorus": ((3, 4, 0, 5), (0, 4, 5, 3), (3, 0, 4, 4)),
    "bridge": ((5, 4, 3, 4), (1, 4, 0, 5)),
    "outro": ((0, 3, 4, 0), (3, 4, 0, 0)),
}
# Per section: (loudness, hat density 0/1/2, lead on, crash on phrase starts, pad brightness).
_STYLE = {
    "intro": (0.55, 1, False, False, 0.3),
    "verse": (0.75, 2, True, False, 0.5),
    "chorus": (1.0, 2, True, True, 0.9),
    "bridge": (0.7, 1, True, False, 0.2),
    "outro": (0.5, 1, False, False, 0.3),
}


class _Style(NamedTuple):
    """How a section is played: loudness, hat density 0/1/2, lead on, crash on phrase starts, pad
    brightness, the scale (``None``: the song's key) and a dissonant note in the chord (semitones
    above its root, 0 for none)."""

    loud: float
    hats: int
    lead: bool
    crash: bool
    bright: float
    scale: tuple | None = None
    clash: int = 0


def mood_style(arousal: float, valence: float) -> _Style:
    """The style of a section with a mood: arousal sets loudness, drums, lead and crash; valence sets
    the mode (major above 0), brightness, and a clashing note where it is tense (low valence, high
    arousal)."""
    loud = 0.5 + 0.25 * (arousal + 1.0)
    hats = 0 if arousal < -0.35 else (1 if arousal < 0.35 else 2)
    bright = float(np.clip(0.45 + 0.3 * valence + 0.15 * arousal, 0.1, 0.95))
    clash = 6 if (valence < -0.3 and arousal > 0.2) else (1 if valence < -0.5 else 0)
    return _Style(loud, hats, arousal > -0.5, arousal > 0.5, bright, _MAJOR if valence >= 0 else _MINOR, clash)


@dataclass(frozen=True)
class Section:
    """A labelled stretch of a song, in seconds."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SongTruth:
    """Ground truth of a synthetic song (written as ``<name>.truth.json``).

    Attributes
    ----------
    tempo_bpm : float
        Tempo at the start, BPM.
    beats_s : list of float [shape=(n_beats,)]
        Every beat's time, seconds.
    downbeats_s : list of float
        Bar starts (every 4th beat), seconds.
    phrase_starts_s : list of float
        8-beat phrase starts, seconds.
    sections : list of Section
    swing : float
        Position of the off-beat eighth within the beat (0.5 straight, up to 0.67 swung).
    drift : float
        Relative tempo change from the first beat to the last.
    key : str
        Key of the song, e.g. ``"A minor"``.
    duration_s : float
    sample_rate : int
    seed : int
    section_moods : dict or None
        With ``synth.moods``: each section kind's mood, ``{"verse": {"mood": "calm", "arousal": -0.66,
        "valence": 0.43}, …}`` (arousal and valence in [-1, 1]); absent otherwise.
    """

    tempo_bpm: float
    beats_s: list
    downbeats_s: list
    phrase_starts_s: list
    sections: list
    swing: float
    drift: float
    key: str
    duration_s: float
    sample_rate: int
    seed: int
    section_moods: dict | None = None

    def to_json(self) -> str:
        """JSON text of the truth record (``section_moods`` only when the song has moods)."""
        record = asdict(self)
        if record["section_moods"] is None:
            del record["section_moods"]
        return json.dumps(record, indent=1)


def _plan_sections(n_phrases: int, rng: np.random.Generator) -> list[str]:
    """One section name per phrase: intro, then verse/chorus pairs with a bridge, then outro."""
    body = ["verse", "verse", "chorus", "chorus", "verse", "verse", "chorus", "chorus", "bridge", "bridge", "chorus", "chorus", "chorus"]
    intro = 1 if n_phrases < 8 else int(rng.integers(1, 3))
    outro = 1
    middle = n_phrases - intro - outro
    plan = ["intro"] * intro + [body[i % len(body)] for i in range(middle)] + ["outro"] * outro
    return plan


def _envelope(n: int, sr: int, *, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack_s, 1e-4)) * np.exp(-t / decay_s)


def _kick(sr: int, gain: float) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    freq = 45 + 75 * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    click = np.exp(-t / 0.002) * 0.3
    return gain * (np.sin(phase) * np.exp(-t / 0.18) + click)


def _snare(sr: int, gain: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0.0) * 0.5  # brighter
    tone = np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05)
    return gain * (0.55 * noise * np.exp(-t / 0.07) + 0.5 * tone)


def _hat(sr: int, gain: float, rng: np.random.Generator, *, decay_s: float = 0.03) -> np.ndarray:
    n = int(max(0.12, 5 * decay_s) * sr)
    noise = np.diff(rng.standard_normal(n + 2), n=2)[:n] * 0.25
    return gain * noise * np.exp(-np.arange(n) / sr / decay_s)


def _tone(freq: float, dur_s: float, sr: int, *, harmonics: int, brightness: float, attack_s: float, decay_s: float, vibrato: float = 0.0) -> np.ndarray:
    n = int(dur_s * sr)
    t = np.arange(n) / sr
    inst = freq * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    out = np.zeros(n)
    for h in range(1, harmonics + 1):
        out += (brightness ** (h - 1)) / h * np.sin(h * phase)
    release = np.minimum(1.0, (n - np.arange(n)) / (0.02 * sr))
    return out * _envelope(n, sr, attack_s=attack_s, decay_s=decay_s) * release


def _midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


class _Timeline(NamedTuple):
    """When every beat falls: tempo, swing, drift and the beat grid (``n_beats + 1`` edges, seconds)."""

    bpm: float
    swing: float
    drift: float
    grid: np.ndarray
    n_phrases: int
    duration: float

    @property
    def n_beats(self) -> int:
        return 8 * self.n_phrases

    @property
    def ibis(self) -> np.ndarray:
        return np.diff(self.grid)


class _Score(NamedTuple):
    """What is played: key, the section of each phrase, chord progressions and lead motifs."""

    scale: tuple
    root: int
    key: str
    plan: list[str]
    progressions: dict
    motif: np.ndarray


def _timeline(rng: np.random.Generator, config: SynthConfig) -> _Timeline:
    bpm = float(rng.uniform(config.min_bpm, config.max_bpm))
    seconds = float(rng.uniform(config.min_seconds, config.max_seconds))
    n_phrases = max(4, int(round(seconds * bpm / 60 / 8)))
    n_beats = n_phrases * 8
    swing = float(rng.uniform(0.6, 0.67)) if rng.random() < config.swing_probability else 0.5
    drift = float(rng.uniform(-0.04, 0.04)) if rng.random() < config.drift_probability else 0.0
    bpms = bpm * (1 + drift * np.arange(n_beats + 1) / n_beats)
    lead_in = float(rng.uniform(0.1, 0.5))
    grid = lead_in + np.concatenate([[0.0], np.cumsum(60.0 / bpms[:-1])])
    return _Timeline(bpm, swing, drift, grid, n_phrases, float(grid[-1] + 1.5))


def _score(rng: np.random.Generator, n_phrases: int) -> _Score:
    minor = bool(rng.random() < 0.5)
    root = int(rng.integers(0, 12))
    plan = _plan_sections(n_phrases, rng)
    progressions = {name: opts[int(rng.integers(len(opts)))] for name, opts in _PROGRESSIONS.items()}
    motif = rng.integers(0, 7, size=(len(SECTION_NAMES), 8))
    return _Score(_MINOR if minor else _MAJOR, root, f"{_NOTE_NAMES[root]} {'minor' if minor else 'major'}", plan, progressions, motif)


class _Mix:
    """A stereo buffer the instruments are added into, at beat positions of a timeline."""

    def __init__(self, tl: _Timeline, sr: int) -> None:
        self.tl, self.sr = tl, sr
        self.out = np.zeros((int(tl.duration * sr) + sr, 2))
        self.ibis = tl.ibis

    def at(self, beat: int, frac: float = 0.0) -> int:
        return int(round((self.tl.grid[beat] + frac * self.ibis[beat]) * self.sr))

    def add(self, sig: np.ndarray, start: int, pan: float = 0.0) -> None:
        end = min(start + len(sig), self.out.shape[0])
        if end <= start:
            return
        left, right = np.sqrt(0.5 * (1 - pan)), np.sqrt(0.5 * (1 + pan))
        self.out[start:end, 0] += left * sig[: end - start]
        self.out[start:end, 1] += right * sig[: end - start]


def _drums(mix: _Mix, beat: int, name: str, style: _Style, rng: np.random.Generator) -> None:
    """Kick on 1 and 3 (accent on 1), snare on 2 and 4, hats, a crash on loud phrase starts."""
    sr, bar_pos, loud, hats, crash = mix.sr, beat % 4, style.loud, style.hats, style.crash
    if bar_pos in (0, 2):
        mix.add(_kick(sr, loud * (1.0 if bar_pos == 0 else 0.75)), mix.at(beat))
    else:
        mix.add(_snare(sr, loud * 0.55, rng), mix.at(beat), pan=0.1)
    if hats >= 1:
        mix.add(_hat(sr, loud * 0.16, rng), mix.at(beat), pan=-0.3)
    if hats >= 2:
        mix.add(_hat(sr, loud * 0.1, rng), mix.at(beat, mix.tl.swing), pan=-0.3)
    if beat % 8 == 0 and (crash or name == "bridge"):
        mix.add(_hat(sr, loud * 0.35, rng, decay_s=0.6), mix.at(beat), pan=0.4)


def _harmony(mix: _Mix, beat: int, name: str, style: _Style, score: _Score) -> None:
    """One chord per bar, changing on the downbeat (with its clashing note, if any); the bass on 1 and 3."""
    sr, bar_pos, loud, bright, ibi = mix.sr, beat % 4, style.loud, style.bright, mix.ibis[beat]
    scale, root = style.scale or score.scale, score.root
    if bar_pos == 0:
        degree = score.progressions[name][(beat // 4) % 4]
        bar_len = float(mix.tl.grid[min(beat + 4, mix.tl.n_beats)] - mix.tl.grid[beat])
        chord = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        chord += [chord[0] + style.clash] if style.clash else []
        for k, step in enumerate(chord):
            f = _midi_hz(60 + root + step - (12 if root > 6 else 0))
            mix.add(0.09 * loud * _tone(f, bar_len, sr, harmonics=6, brightness=bright, attack_s=0.01, decay_s=3.0), mix.at(beat), pan=-0.5 + 0.5 * (k % 3))
        bass_f = _midi_hz(36 + root + scale[degree % 7])
        mix.add(0.35 * loud * _tone(bass_f, 1.6 * ibi, sr, harmonics=4, brightness=0.5, attack_s=0.005, decay_s=0.5), mix.at(beat))
    elif bar_pos == 2:
        degree = score.progressions[name][(beat // 4) % 4]
        bass_f = _midi_hz(36 + root + scale[(degree + 4) % 7])
        mix.add(0.25 * loud * _tone(bass_f, 0.9 * ibi, sr, harmonics=4, brightness=0.5, attack_s=0.005, decay_s=0.4), mix.at(beat))


def _lead(mix: _Mix, beat: int, name: str, style: _Style, score: _Score) -> None:
    """A per-section motif, one note per beat, an eighth pickup on some beats."""
    pos, loud, lead_on, ibi, scale = beat % 8, style.loud, style.lead, mix.ibis[beat], style.scale or score.scale
    if not lead_on or pos >= 7:
        return
    note = int(score.motif[SECTION_NAMES.index(name), pos])
    f = _midi_hz(72 + score.root % 12 + scale[note % 7])
    mix.add(0.11 * loud * _tone(f, 0.8 * ibi, mix.sr, harmonics=3, brightness=0.6, attack_s=0.015, decay_s=0.4, vibrato=0.004), mix.at(beat), pan=0.3)
    if pos % 2 == 1:
        f2 = _midi_hz(72 + score.root % 12 + scale[(note + 2) % 7])
        mix.add(0.07 * loud * _tone(f2, 0.4 * ibi, mix.sr, harmonics=3, brightness=0.6, attack_s=0.01, decay_s=0.2), mix.at(beat, mix.tl.swing), pan=0.3)


def _section_moods(seed: int) -> dict[str, dict]:
    """A mood per section kind: five of the named moods, none twice, each a little off its point
    (drawn from their own generator, so everything else about the song is as without moods)."""
    rng = np.random.default_rng([seed, 7])
    names = rng.permutation(MOOD_NAMES)[: len(SECTION_NAMES)]
    out = {}
    for section, mood in zip(SECTION_NAMES, names):
        a, v = np.clip(np.asarray(NAMED_MOODS[str(mood)]) + rng.uniform(-0.1, 0.1, size=2), -1.0, 1.0)
        out[section] = {"mood": str(mood), "arousal": round(float(a), 4), "valence": round(float(v), 4)}
    return out


def _truth(tl: _Timeline, score: _Score, *, sr: int, seed: int, moods: dict | None) -> SongTruth:
    beats = tl.grid[: tl.n_beats]
    sections: list[Section] = []
    for phrase, name in enumerate(score.plan):
        start = float(tl.grid[phrase * 8])
        end = float(tl.grid[(phrase + 1) * 8]) if phrase + 1 < tl.n_phrases else tl.duration
        if sections and sections[-1].name == name:
            sections[-1] = Section(name, sections[-1].start_s, end)
        else:
            sections.append(Section(name, start, end))
    return SongTruth(
        tempo_bpm=round(tl.bpm, 3),
        beats_s=[round(float(b), 5) for b in beats],
        downbeats_s=[round(float(b), 5) for b in beats[::4]],
        phrase_starts_s=[round(float(b), 5) for b in beats[::8]],
        sections=[asdict(s) for s in sections],
        swing=round(tl.swing, 4),
        drift=round(tl.drift, 4),
        key=score.key,
        duration_s=round(tl.duration, 5),
        sample_rate=sr,
        seed=seed,
        section_moods=moods,
    )


def synthesize_song(*, seed: int, config: SynthConfig = SynthConfig()) -> tuple[np.ndarray, SongTruth]:
    """Make one song and its ground truth.

    Parameters
    ----------
    seed : int
        Everything about the song follows from it.
    config : SynthConfig
        Rate, channels, tempo and length ranges, swing and drift probabilities.

    Returns
    -------
    samples : np.ndarray [shape=(n, channels), dtype=float32]
    truth : SongTruth
    """
    rng = np.random.default_rng(seed)
    sr = config.sample_rate
    tl = _timeline(rng, config)
    score = _score(rng, tl.n_phrases)
    moods = _section_moods(seed) if config.moods else None
    styles = {name: mood_style(m["arousal"], m["valence"]) for name, m in moods.items()} if moods else {name: _Style(*v) for name, v in _STYLE.items()}
    mix = _Mix(tl, sr)
    for beat in range(tl.n_beats):
        name = score.plan[beat // 8]
        _drums(mix, beat, name, styles[name], rng)
        _harmony(mix, beat, name, styles[name], score)
        _lead(mix, beat, name, styles[name], score)
    out = mix.out[: int(tl.duration * sr)]
    out *= 0.9 / max(1e-9, float(np.abs(out).max()))
    samples = out.astype(np.float32) if config.channels == 2 else out.mean(axis=1, keepdims=True).astype(np.float32)
    return samples, _truth(tl, score, sr=sr, seed=seed, moods=moods)


def write_corpus(out_dir: str | Path, *, n: int, seed: int, config: SynthConfig = SynthConfig()) -> list[Path]:
    """Write ``n`` songs (``song_000.wav`` …) and their ``.truth.json`` into ``out_dir``.

    Song ``i`` uses seed ``seed * 100003 + i``, so corpora with different seeds never share a song
    and song ``i`` is the same whatever ``n`` is.

    Returns
    -------
    list of Path
        The audio files, in order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        samples, truth = synthesize_song(seed=seed * 100003 + i, config=config)
        path = write_audio(out / f"song_{i:03d}.wav", samples, sample_rate=config.sample_rate)
        (out / f"song_{i:03d}.truth.json").write_text(truth.to_json())
        paths.append(path)
    return paths
