"""Decode, validate and write audio.

Decoding keeps the source's own sample rate and channels (for rendering) and offers a mono
float32 signal at the analysis rate (for analysis). Every way a file can be unusable raises
:class:`~editor_rl.errors.InvalidAudioError` with the file's name and the problem.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from editor_rl.audio.containers import truncation
from editor_rl.errors import InvalidAudioError

SUPPORTED_FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")
EXACT_LENGTH_FORMATS = ("wav", "flac")
"""Formats whose header frame count is exact (MP3 and Ogg counts include or estimate encoder padding)."""


@dataclass(frozen=True)
class Audio:
    """Decoded audio at its own rate.

    Attributes
    ----------
    samples : np.ndarray [shape=(n, channels), dtype=float32]
        Samples in [-1, 1].
    sample_rate : int
        Samples per second, Hz.
    path : str
        Where it was read from ("" for audio made in memory).
    """

    samples: np.ndarray
    sample_rate: int
    path: str = ""

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate


def _fail(path: Path | str, problem: str) -> InvalidAudioError:
    return InvalidAudioError(f"{Path(path).name}: {problem}")


def decode_audio(
    path: str | Path,
    *,
    max_duration_s: float = 1200.0,
    silence_dbfs: float = -60.0,
    allowed_formats: tuple[str, ...] = SUPPORTED_FORMATS,
) -> Audio:
    """Read and validate an audio file at its own rate and channels.

    Parameters
    ----------
    path : str or Path
        A WAV, FLAC, OGG (Vorbis/Opus) or MP3 file.
    max_duration_s : float
        Longest accepted duration, seconds; checked from the header before decoding.
    silence_dbfs : float
        Files whose RMS level is below this (dB full scale) are digital silence.
    allowed_formats : tuple of str
        Accepted file extensions, lower case.

    Returns
    -------
    Audio

    Raises
    ------
    InvalidAudioError
        Missing, empty, unsupported, not audio, truncated, zero-length, too long, NaN/inf
        samples, or digital silence. The message names the file and the problem.
    """
    p = Path(path)
    ext = p.suffix.lower().lstrip(".")
    _check_file(p, ext, allowed_formats)
    try:
        with sf.SoundFile(str(p)) as f:
            declared, rate = f.frames, f.samplerate
            if rate <= 0:
                raise _fail(p, f"invalid sample rate {rate}")
            if declared > 0 and declared / rate > max_duration_s:
                raise _fail(p, f"too long: {declared / rate:.1f} s exceeds the limit of {max_duration_s:.0f} s")
            data, error = _read_blocks(f)
    except InvalidAudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _fail(p, f"not decodable as {ext.upper()} audio ({str(exc).strip() or exc.__class__.__name__})") from None
    _check_decoded(p, ext, data, error=error, declared=declared, rate=rate, max_duration_s=max_duration_s, silence_dbfs=silence_dbfs)
    return Audio(samples=np.ascontiguousarray(data), sample_rate=int(rate), path=str(p))


def _check_file(p: Path, ext: str, allowed_formats: tuple[str, ...]) -> None:
    """Before decoding: the format is allowed, the file exists, is not empty and its container is whole."""
    if ext not in allowed_formats:
        raise _fail(p, f"unsupported format {ext or '(no extension)'!r}; expected one of {', '.join(allowed_formats)}")
    if not p.exists():
        raise _fail(p, "file does not exist")
    if not p.is_file():
        raise _fail(p, "is not a regular file")
    if p.stat().st_size == 0:
        raise _fail(p, "file is empty (0 bytes)")
    # Container-level truncation first: decoders are lenient with cut files (see containers.py).
    problem = truncation(p, ext)
    if problem:
        raise _fail(p, f"truncated: {problem}")


def _check_decoded(p: Path, ext: str, data: np.ndarray, *, error: str | None, declared: int, rate: int, max_duration_s: float, silence_dbfs: float) -> None:
    """After decoding: every frame the header declares, within the length limit, finite, not silence."""
    n = data.shape[0]
    if error is not None:
        if 0 < declared and n < declared:
            raise _fail(p, f"truncated or corrupt: decoding stops after {n / rate:.2f} s of the {declared / rate:.2f} s its header declares ({error})")
        raise _fail(p, f"not decodable as {ext.upper()} audio ({error})")
    if n == 0:
        raise _fail(p, "zero-length audio: no samples could be decoded (empty or truncated stream)")
    if ext in EXACT_LENGTH_FORMATS and 0 < declared and n < declared:
        raise _fail(p, f"truncated: the header declares {declared} frames but only {n} could be decoded")
    if n / rate > max_duration_s:
        raise _fail(p, f"too long: {n / rate:.1f} s exceeds the limit of {max_duration_s:.0f} s")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise _fail(p, f"{bad} samples are NaN or infinite")
    flat = data.reshape(-1)
    rms = float(np.sqrt(float(np.dot(flat, flat)) / flat.size))  # a float32 dot: enough for a level in dB, without a float64 copy
    level = 20 * np.log10(max(rms, 1e-12))
    if level < silence_dbfs:
        raise _fail(p, f"digital silence (RMS {level:.1f} dBFS is below {silence_dbfs:.0f} dBFS)")


def _read_blocks(f: sf.SoundFile, block: int = 1 << 16) -> tuple[np.ndarray, str | None]:
    """Everything ``f`` decodes, and the decoder's complaint if it stopped early (else None).

    Read a block at a time (what decoded before a failing block is kept) into one array of the
    frames the header declares, then on into further blocks where the stream holds more: one copy of
    the samples, not the blocks and their concatenation."""
    out = np.empty((max(f.frames, 0), f.channels), np.float32)
    n, more, error = 0, [], None
    while True:
        try:
            part = f.read(out=out[n : n + block]) if n < len(out) else f.read(block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            error = str(exc).strip() or exc.__class__.__name__
            break
        if not len(part):
            break
        if n < len(out):
            n += len(part)
        else:
            more.append(part)
    return (np.concatenate([out[:n], *more]) if more else out[:n]), error


def mixdown(samples: np.ndarray) -> np.ndarray:
    """The channels' mean, ``samples.mean(axis=1)`` in float32 to the bit, channel by channel (a mean
    along the short axis is several times slower).

    Parameters
    ----------
    samples : np.ndarray [shape=(n, channels)]

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
    """
    total = samples[:, 0].astype(np.float32, copy=True)
    for c in range(1, samples.shape[1]):
        total += samples[:, c]
    if samples.shape[1] > 1:
        total /= np.float32(samples.shape[1])
    return total


def to_analysis_signal(audio: Audio, *, sample_rate: int) -> np.ndarray:
    """Mono float32 signal at the analysis rate.

    Parameters
    ----------
    audio : Audio
        Decoded audio at its own rate.
    sample_rate : int
        Target rate, Hz.

    Returns
    -------
    y : np.ndarray [shape=(m,), dtype=float32]
    """
    mono = mixdown(audio.samples)
    if audio.sample_rate == sample_rate:
        return np.ascontiguousarray(mono, dtype=np.float32)
    return soxr.resample(mono, audio.sample_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)


_BLOCK = 1 << 16  # frames converted and written at a time: small buffers, reused


def _write_pcm16(path: Path, samples: np.ndarray, *, sample_rate: int) -> None:
    """A 16-bit WAV of float32 ``samples``: libsndfile's 44-byte header, then the samples converted
    the way libsndfile converts them (the floor of x · 32768, clipped) in NumPy a block at a time and
    written straight to the file — the same bytes as ``sf.write``, a few times faster and without
    a copy of the whole signal (libsndfile buffers what it writes and copies it again when it
    closes; its FLAC and float64 conversions round differently: they keep their own path). Mono or
    stereo: libsndfile gives more channels another header."""
    x = samples if samples.ndim == 2 else samples[:, None]
    channels = x.shape[1]
    size = len(x) * channels * 2
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    y = np.empty((min(_BLOCK, len(x)), channels), dtype=np.float32)
    pcm = np.empty(y.shape, dtype=np.int16)
    with open(path, "wb") as f:
        f.write(header + b"data" + struct.pack("<I", size))
        for start in range(0, len(x), _BLOCK):
            block = x[start : start + _BLOCK]
            yb, pb = y[: len(block)], pcm[: len(block)]
            np.multiply(block, np.float32(32768.0), out=yb)
            np.floor(yb, out=yb)
            np.clip(yb, -32768.0, 32767.0, out=yb)
            pb[...] = yb
            f.write(pb)


def write_audio(path: str | Path, samples: np.ndarray, *, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write audio atomically (temp file + rename), WAV/FLAC/OGG by extension.

    Parameters
    ----------
    path : str or Path
        Output file; its folder is created.
    samples : np.ndarray [shape=(n,) or (n, channels)]
        Samples in [-1, 1]; clipped on write.
    sample_rate : int
        Hz.
    subtype : str
        libsndfile subtype for WAV/FLAC (``PCM_16`` default).

    Returns
    -------
    Path
        The written file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ext = p.suffix.lower().lstrip(".")
    fmt = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}.get(ext)
    if fmt is None:
        raise InvalidAudioError(f"{p.name}: cannot write format {ext!r}; use .wav, .flac, .ogg or .mp3")
    sub = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}.get(fmt, subtype)
    tmp = p.with_name(f".{p.name}.tmp")
    if fmt == "WAV" and sub == "PCM_16" and samples.dtype == np.float32 and (samples.ndim == 1 or samples.ndim == 2 and samples.shape[1] <= 2):  # a render
        _write_pcm16(tmp, samples, sample_rate=sample_rate)
    else:
        sf.write(str(tmp), np.clip(samples, -1.0, 1.0), sample_rate, format=fmt, subtype=sub)
    tmp.replace(p)
    return p
