"""Is an audio file whole? Container-level truncation checks for WAV, MP3 and Ogg.

Decoders are lenient with a cut file and header counts are not exact, so neither "it decoded" nor
"it decoded as many frames as the header says" tells an intact file from a cut one:

- libsndfile clamps a WAV whose data chunk runs past the end of the file;
- an MP3's frame count from libsndfile includes (with a LAME tag) or estimates (without one) the
  encoder's delay and padding, so intact files decode fewer frames than it declares, and mpg123
  quietly decodes what a cut file still has;
- a cut Ogg file reports the length its last surviving page reaches, and intact Vorbis files can
  declare a few samples more than they decode.

So each container is checked for what its format promises:

- **WAV**: the ``data`` chunk's declared size fits in the file;
- **MP3**: after an ID3v2 tag the frame headers chain to the end of the audio, the last frame is
  complete, and a Xing/Info (LAME) or VBRI header's frame count is reached;
- **Ogg** (Vorbis, Opus, FLAC-in-Ogg): every page is complete, and every logical stream that began
  (beginning-of-stream flag) also ends (end-of-stream flag).

FLAC's STREAMINFO sample count is exact; :func:`editor_rl.audio.io.decode_audio` compares it with
what decodes. Every function here is pure and reads only the file's bytes.
"""

from __future__ import annotations

from pathlib import Path

_MP3_BITRATES = {  # kbps by the header's 4-bit index: MPEG-1 Layer III, MPEG-2/2.5 Layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def truncation(path: str | Path, ext: str) -> str | None:
    """What is cut off in ``path``, or None if its container is whole.

    Parameters
    ----------
    path : str or Path
        The file.
    ext : str
        Its format by extension, lower case without the dot (``wav``, ``mp3``, ``ogg``; others
        are not checked here).

    Returns
    -------
    str or None
        A one-line description of the truncation (e.g. ``"the last MPEG frame is cut off"``).
    """
    check = {"wav": wav_truncation, "mp3": mp3_truncation, "ogg": ogg_truncation}.get(ext)
    return check(Path(path).read_bytes()) if check else None


def wav_truncation(raw: bytes) -> str | None:
    """A RIFF/WAVE file whose ``data`` chunk claims more bytes than the file holds."""
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RF64") or raw[8:12] != b"WAVE":
        return None  # not RIFF: the decoder says what it is
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        if cid == b"data":
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > len(raw):
                return f"the WAV data chunk declares {size} bytes but only {len(raw) - pos - 8} are in the file"
            return None
        pos += 8 + size + (size & 1)
    return None


def _mp3_header(raw: bytes, pos: int) -> tuple[int, int, int] | None:
    """(frame length in bytes, MPEG version code, channel mode) of a Layer III header at ``pos``, or None."""
    if pos + 4 > len(raw) or raw[pos] != 0xFF or (raw[pos + 1] & 0xE0) != 0xE0:
        return None
    b1, b2 = raw[pos + 1], raw[pos + 2]
    version, layer = (b1 >> 3) & 0x3, (b1 >> 1) & 0x3  # version 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5; layer 1: III
    br_idx, sr_idx, padding = b2 >> 4, (b2 >> 2) & 0x3, (b2 >> 1) & 0x1
    if version == 1 or layer != 1 or sr_idx == 3 or br_idx in (0, 15):
        return None
    bitrate = _MP3_BITRATES[1 if version == 3 else 2][br_idx] * 1000
    length = (144 if version == 3 else 72) * bitrate // _MP3_RATES[version][sr_idx] + padding
    return length, version, raw[pos + 3] >> 6


def _mp3_declared_frames(raw: bytes, pos: int, version: int, mode: int) -> int | None:
    """Audio frames a Xing/Info (LAME) or VBRI header in the frame at ``pos`` declares, or None."""
    side = (32 if mode != 3 else 17) if version == 3 else (17 if mode != 3 else 9)
    xing = pos + 4 + side
    if raw[xing : xing + 4] in (b"Xing", b"Info") and int.from_bytes(raw[xing + 4 : xing + 8], "big") & 0x1:
        return int.from_bytes(raw[xing + 8 : xing + 12], "big")
    vbri = pos + 36
    if raw[vbri : vbri + 4] == b"VBRI":
        return int.from_bytes(raw[vbri + 14 : vbri + 18], "big")
    return None


def mp3_truncation(raw: bytes) -> str | None:
    """Walk the MPEG Layer III frames: the last one must be whole and a declared count reached.

    Junk before the first frame is skipped (resynchronising); after the frames, anything that is
    not a frame header (an ID3v1 or APE tag, padding) ends the audio.
    """
    pos = 0
    if raw[:3] == b"ID3" and len(raw) >= 10:  # an ID3v2 tag (synchsafe size, + footer)
        pos = 10 + ((raw[6] & 0x7F) << 21 | (raw[7] & 0x7F) << 14 | (raw[8] & 0x7F) << 7 | (raw[9] & 0x7F)) + (10 if raw[5] & 0x10 else 0)
    end = len(raw) - 128 if raw[-128:-125] == b"TAG" else len(raw)
    frames, declared = 0, None
    while pos < end:
        head = _mp3_header(raw, pos)
        if head is None:
            if frames:
                break
            pos += 1  # junk before the first frame: resynchronise
            continue
        length, version, mode = head
        if frames == 0:
            declared = _mp3_declared_frames(raw, pos, version, mode)
        if pos + length > end:
            return f"the last MPEG frame is cut off ({end - pos} of its {length} bytes are in the file)"
        frames += 1
        pos += length
    audio_frames = frames - (1 if declared is not None else 0)  # the Xing/VBRI frame itself carries no audio
    if declared is not None and audio_frames < declared:
        return f"its Xing/VBRI header declares {declared} MPEG frames but only {audio_frames} are in the file"
    return None


def ogg_truncation(raw: bytes) -> str | None:
    """Walk the Ogg pages: each must be complete, and each stream that begins must end."""
    pos, open_streams, pages = 0, set(), 0
    while pos < len(raw):
        if raw[pos : pos + 4] != b"OggS":
            if pages and not open_streams:
                return None  # trailing bytes after every stream ended
            return f"the Ogg page chain breaks at byte {pos} of {len(raw)}"
        if pos + 27 > len(raw):
            return f"the last Ogg page header is cut off at byte {len(raw)}"
        flags, serial, n_seg = raw[pos + 5], raw[pos + 14 : pos + 18], raw[pos + 26]
        body = pos + 27 + n_seg
        if body > len(raw):
            return f"the last Ogg page header is cut off at byte {len(raw)}"
        end = body + sum(raw[pos + 27 : body])
        if end > len(raw):
            return f"the last Ogg page is cut off ({len(raw) - body} of its {end - body} bytes are in the file)"
        if flags & 0x2:
            open_streams.add(serial)
        if flags & 0x4:
            open_streams.discard(serial)
        pages += 1
        pos = end
    if open_streams:
        return "the Ogg stream stops without its end-of-stream page"
    return None
