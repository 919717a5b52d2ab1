"""Decode, validate and write audio.

Decoding keeps the source's own sample rate and channels (for rendering) and offers a mono
float32 signal at the analysis rate (for analysis). Every way a file can be unusable raises
:class:`~editor_rl.errors.InvalidAudioError` with the file's name and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from editor_rl.errors import InvalidAudioError

SUPPORTED_FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")


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
    if ext not in allowed_formats:
        raise _fail(p, f"unsupported format {ext or '(no extension)'!r}; expected one of {', '.join(allowed_formats)}")
    if not p.exists():
        raise _fail(p, "file does not exist")
    if not p.is_file():
        raise _fail(p, "is not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise _fail(p, "file is empty (0 bytes)")
    # Container-level truncation checks first (libsndfile clamps a short WAV silently, and
    # mpg123 prints warnings on a cut MP3).
    if ext == "wav" and _wav_truncated(p, size):
        raise _fail(p, "truncated: the WAV data chunk is longer than the file")
    if ext == "mp3" and _mp3_truncated(p, size):
        raise _fail(p, "truncated: the last MPEG frame is cut off")
    try:
        with sf.SoundFile(str(p)) as f:
            declared = f.frames
            rate = f.samplerate
            if rate <= 0:
                raise _fail(p, f"invalid sample rate {rate}")
            if declared > 0 and declared / rate > max_duration_s:
                raise _fail(p, f"too long: {declared / rate:.1f} s exceeds the limit of {max_duration_s:.0f} s")
            data = f.read(dtype="float32", always_2d=True)
    except InvalidAudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _fail(p, f"not decodable as {ext.upper()} audio ({str(exc).strip() or exc.__class__.__name__})") from None
    n = data.shape[0]
    if n == 0:
        raise _fail(p, "zero-length audio: no samples could be decoded (empty or truncated stream)")
    if 0 < declared and n < declared:
        raise _fail(p, f"truncated: header declares {declared} frames but only {n} could be decoded")
    if n / rate > max_duration_s:
        raise _fail(p, f"too long: {n / rate:.1f} s exceeds the limit of {max_duration_s:.0f} s")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise _fail(p, f"{bad} samples are NaN or infinite")
    rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
    level = 20 * np.log10(max(rms, 1e-12))
    if level < silence_dbfs:
        raise _fail(p, f"digital silence (RMS {level:.1f} dBFS is below {silence_dbfs:.0f} dBFS)")
    return Audio(samples=np.ascontiguousarray(data), sample_rate=int(rate), path=str(p))


_MP3_BITRATES = {  # MPEG-1 Layer III kbps, MPEG-2/2.5 Layer III kbps, by the header's 4-bit index
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _wav_truncated(path: Path, size: int) -> bool:
    """True when a RIFF/WAVE file's ``data`` chunk claims more bytes than the file holds."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return False  # not RIFF: let the decoder say what it is
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, csize = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"data":
                return csize not in (0, 0xFFFFFFFF) and pos + 8 + csize > size
            pos += 8 + csize + (csize & 1)
    return False


def _mp3_truncated(path: Path, size: int) -> bool:
    """Walk the MPEG Layer III frame headers; True when the last frame runs past the file's end."""
    raw = path.read_bytes()
    pos = 0
    if raw[:3] == b"ID3" and len(raw) >= 10:  # skip an ID3v2 tag (synchsafe size)
        pos = 10 + ((raw[6] & 0x7F) << 21 | (raw[7] & 0x7F) << 14 | (raw[8] & 0x7F) << 7 | (raw[9] & 0x7F))
    end = size - 128 if raw[-128:-125] == b"TAG" else size  # an ID3v1 tag at the end
    frames = 0
    while pos + 4 <= end:
        b1, b2 = raw[pos + 1], raw[pos + 2]
        if raw[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
            # Not a frame header: resynchronise only before the first frame (junk); after, stop.
            if frames:
                return False
            pos += 1
            continue
        version = (b1 >> 3) & 0x3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        layer = (b1 >> 1) & 0x3  # 1: Layer III
        br_idx, sr_idx, padding = b2 >> 4, (b2 >> 2) & 0x3, (b2 >> 1) & 0x1
        if version == 1 or layer != 1 or sr_idx == 3 or br_idx in (0, 15):
            if frames:
                return False
            pos += 1
            continue
        bitrate = _MP3_BITRATES[1 if version == 3 else 2][br_idx] * 1000
        rate = _MP3_RATES[version][sr_idx]
        length = (144 if version == 3 else 72) * bitrate // rate + padding
        frames += 1
        if pos + length > end:
            return True
        pos += length
    return False


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
    mono = audio.samples.mean(axis=1, dtype=np.float32)
    if audio.sample_rate == sample_rate:
        return np.ascontiguousarray(mono, dtype=np.float32)
    return soxr.resample(mono, audio.sample_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)


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
    sf.write(str(tmp), np.clip(samples, -1.0, 1.0), sample_rate, format=fmt, subtype=sub)
    tmp.replace(p)
    return p
