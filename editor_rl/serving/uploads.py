"""Uploads: the ingress stages an upload's bytes in the shared uploads folder (:func:`stage_upload`),
an Editor replica validates and keeps them under the content's id (:func:`keep_upload`).

The bytes go through the shared folder, not through Ray's object store (32 MB for a 3-minute WAV).
A staged file is named by its content (``.<16 hex of sha256>.<random>.<ext>``), so keeping is safe to
repeat: a call retried on another replica while the first is still at work (or after it kept the
file and was lost) answers with the song id the first kept, never "no staged upload".
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable, TypeVar

from editor_rl.audio.analysis import bytes_hash
from editor_rl.errors import InvalidAudioError

T = TypeVar("T")


def stage_upload(data: bytes, filename: str, *, uploads: Path, allowed_formats: tuple[str, ...]) -> Path:
    """Write an upload's bytes where every replica finds them: a hidden file in ``uploads`` named by
    their content.

    Raises
    ------
    InvalidAudioError
        Empty, or a file name whose extension is not an allowed format (nothing is written).
    """
    ext = Path(filename or "upload").suffix.lower()
    if not data:
        raise InvalidAudioError(f"{filename or 'upload'}: empty file (0 bytes)")
    if ext.lstrip(".") not in allowed_formats:
        raise InvalidAudioError(f"{filename or 'upload'}: unsupported format {ext or '(none)'!r}; allowed: {', '.join(allowed_formats)}")
    uploads.mkdir(parents=True, exist_ok=True)
    staged = uploads / f".{bytes_hash(data)}.{uuid.uuid4().hex}{ext}"
    staged.write_bytes(data)
    return staged


def keep_upload(staged: Path, *, uploads: Path, filename: str, analyse: Callable[[Path, str], T]) -> tuple[str, Path, T | None]:
    """Validate a staged upload and keep it as ``uploads/upload-<hash>.<ext>``; the staged file is gone
    afterwards (kept, or deleted).

    Parameters
    ----------
    staged : Path
        What :func:`stage_upload` wrote.
    uploads : Path
        The shared uploads folder.
    filename : str
        The name the person gave the file (errors name it).
    analyse : callable (path, content hash) -> analysis
        Decodes, validates and analyses the audio; raises InvalidAudioError for bad audio.

    Returns
    -------
    (song_id, path, analysis)
        ``analysis`` is None when the content was kept already (by an earlier upload of the same
        file, or by another attempt at this one).

    Raises
    ------
    InvalidAudioError
        Not audio, truncated, silent, too long (naming ``filename``), or no staged upload at ``staged``.
    """
    name = filename or "upload"
    missing = InvalidAudioError(f"{name}: no staged upload at {staged.name!r}")
    parts = staged.name.split(".")  # "", digest, random, extension
    if staged.parent != uploads or len(parts) != 4 or parts[0] or not parts[1].isalnum():
        raise missing
    digest = parts[1]
    sid = f"upload-{digest}"
    path = uploads / f"{sid}.{parts[3]}"
    try:
        if path.is_file():
            return sid, path, None
        try:
            analysis = analyse(staged, digest)
            staged.replace(path)  # only valid audio is ever visible under an upload id
        except (InvalidAudioError, FileNotFoundError) as e:
            if path.is_file():  # another attempt kept it while this one read it
                return sid, path, None
            if not staged.exists():
                raise missing from None
            raise InvalidAudioError(str(e).replace(str(staged), name).replace(staged.name, name)) from None
        return sid, path, analysis
    finally:
        staged.unlink(missing_ok=True)  # a staged upload never outlives its request (a kept one was moved)
