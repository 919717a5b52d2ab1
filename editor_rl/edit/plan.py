"""Edit plans: which stretches of the source play, in what order, and the EDL JSON they map to.

An :class:`EditPlan` is built from the order in which source beats are played (a beat played
right after its predecessor continues a segment; anything else starts a new one, i.e. a seam).
Its EDL form (see docs/design.md) is what ``editor-rl edit`` writes and ``editor-rl render`` reads::

    {"source": "song.wav", "sample_rate": 44100, "duration_s": 31.9, "source_duration_s": 60.2,
     "segments": [{"src_start_s": 0.0, "src_end_s": 8.2, "out_start_s": 0.0}, ...],
     "actions": ["KEEP", "KEEP", "CUT_TO_PHRASE", ...], "fade_out": true,
     "mood": {"name": "calm", "arousal": -0.7, "valence": 0.4}}      (mood: only when asked for)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from editor_rl.audio.mood import Mood, parse_mood
from editor_rl.errors import InvalidEditError

_TOL_S = 1e-3  # timing tolerance when checking an EDL, seconds


@dataclass(frozen=True)
class Segment:
    """One stretch of source audio placed in the output.

    Attributes
    ----------
    src_start_s, src_end_s : float
        Source span, seconds (``src_end_s > src_start_s``).
    out_start_s : float
        Where it starts in the output, seconds.
    """

    src_start_s: float
    src_end_s: float
    out_start_s: float

    @property
    def length_s(self) -> float:
        """Length in seconds."""
        return self.src_end_s - self.src_start_s


@dataclass(frozen=True)
class EditPlan:
    """An edit of one source song.

    Attributes
    ----------
    source : str
        The source audio file.
    sample_rate : int
        The source's rate, Hz.
    source_duration_s : float
        Length of the source, seconds.
    segments : tuple of Segment
        In output order; ``out_start_s`` is the running sum of lengths.
    actions : tuple of str
        The action taken at each decision step (kept for the reward model and for people).
    beat_order : tuple of int
        Source beat index played at each output beat (empty when built from an EDL without it).
    fade_out : bool
        Whether the render ends with a fade-out.
    repair : str
        How the length promise was kept when the editor's own edit missed the target (empty: it
        did not; see :mod:`editor_rl.search.promise`).
    mood : Mood or None
        The mood the edit was asked for (None: none).
    """

    source: str
    sample_rate: int
    source_duration_s: float
    segments: tuple[Segment, ...]
    actions: tuple[str, ...] = ()
    beat_order: tuple[int, ...] = ()
    fade_out: bool = False
    repair: str = ""
    mood: Mood | None = None

    def __post_init__(self) -> None:
        validate_segments(self.segments, source_duration_s=self.source_duration_s)

    @property
    def duration_s(self) -> float:
        """Output length, seconds."""
        return float(sum(s.length_s for s in self.segments))

    @property
    def n_seams(self) -> int:
        """Number of joins between non-contiguous source spans."""
        return max(0, len(self.segments) - 1)

    @classmethod
    def from_beat_order(
        cls,
        *,
        source: str,
        sample_rate: int,
        source_duration_s: float,
        beat_starts_s: np.ndarray,
        beat_ends_s: np.ndarray,
        beat_order: Sequence[int],
        actions: Sequence[str] = (),
        fade_out: bool = False,
        repair: str = "",
    ) -> "EditPlan":
        """Build a plan from the source beats played, in order.

        Parameters
        ----------
        beat_starts_s, beat_ends_s : np.ndarray [shape=(n_beats,)]
            Each source beat's span, seconds.
        beat_order : sequence of int
            Source beat index at each output beat; consecutive indices join into one segment.

        Raises
        ------
        InvalidEditError
            Empty order or a beat index outside ``[0, n_beats)``.
        """
        order = [int(b) for b in beat_order]
        n = len(beat_starts_s)
        if not order:
            raise InvalidEditError("edit plan keeps no beats")
        bad = [b for b in order if not 0 <= b < n]
        if bad:
            raise InvalidEditError(f"beat index {bad[0]} is outside the song's {n} beats")
        segments: list[Segment] = []
        run_start = order[0]
        out = 0.0
        for prev, cur in zip(order, order[1:] + [None]):
            if cur is not None and cur == prev + 1:
                continue
            seg = Segment(float(beat_starts_s[run_start]), float(beat_ends_s[prev]), out)
            segments.append(seg)
            out += seg.length_s
            if cur is not None:
                run_start = cur
        return cls(source=source, sample_rate=sample_rate, source_duration_s=float(source_duration_s), segments=tuple(segments),
                   actions=tuple(actions), beat_order=tuple(order), fade_out=fade_out, repair=repair)

    def to_edl(self) -> dict[str, Any]:
        """The EDL dict (JSON-ready)."""
        return {
            "source": self.source,
            "sample_rate": self.sample_rate,
            "duration_s": round(self.duration_s, 6),
            "source_duration_s": round(self.source_duration_s, 6),
            "segments": [{"src_start_s": round(s.src_start_s, 6), "src_end_s": round(s.src_end_s, 6), "out_start_s": round(s.out_start_s, 6)} for s in self.segments],
            "actions": list(self.actions),
            "beat_order": list(self.beat_order),
            "fade_out": self.fade_out,
        } | ({"repair": self.repair} if self.repair else {}) | ({"mood": self.mood.to_json()} if self.mood else {})

    def save(self, path: str | Path) -> Path:
        """Write the EDL as JSON (atomically)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(json.dumps(self.to_edl(), indent=1))
        tmp.replace(p)
        return p

    @classmethod
    def from_edl(cls, edl: Mapping[str, Any], *, source_duration_s: float | None = None, where: str = "EDL") -> "EditPlan":
        """Parse and check an EDL dict.

        Parameters
        ----------
        edl : mapping
            As written by :meth:`to_edl` (``source_duration_s``, ``beat_order`` and
            ``fade_out`` are optional).
        source_duration_s : float or None
            The source's real length; when given, segments past it are rejected.
        where : str
            Name used in error messages (e.g. the file).

        Raises
        ------
        InvalidEditError
            Missing or mistyped fields, empty or inconsistent segments, segments past the source.
        """
        if not isinstance(edl, Mapping):
            raise InvalidEditError(f"{where}: expected a JSON object, got {type(edl).__name__}")
        for key in ("source", "sample_rate", "segments"):
            if key not in edl:
                raise InvalidEditError(f"{where}: missing field {key!r}")
        segs_in = edl["segments"]
        if not isinstance(segs_in, list) or not segs_in:
            raise InvalidEditError(f"{where}: 'segments' must be a non-empty list")
        segments = []
        for i, s in enumerate(segs_in):
            try:
                segments.append(Segment(float(s["src_start_s"]), float(s["src_end_s"]), float(s.get("out_start_s", 0.0))))
            except (KeyError, TypeError, ValueError):
                raise InvalidEditError(f"{where}: segments[{i}]={s!r} needs numeric src_start_s and src_end_s") from None
        sr = edl["sample_rate"]
        if isinstance(sr, bool) or not isinstance(sr, int) or sr <= 0:
            raise InvalidEditError(f"{where}: sample_rate={sr!r} must be a positive integer")
        declared = edl.get("source_duration_s")
        dur = float(source_duration_s if source_duration_s is not None else (declared if declared is not None else max(s.src_end_s for s in segments)))
        actions, order, repair, mood = _optional_fields(edl, where)
        try:
            validate_segments(segments, source_duration_s=dur)
        except InvalidEditError as exc:
            raise InvalidEditError(f"{where}: {exc}") from None
        # Recompute output positions from lengths; reject a file whose positions disagree.
        out, fixed = 0.0, []
        for i, s in enumerate(segments):
            if "out_start_s" in segs_in[i] and abs(s.out_start_s - out) > 0.05:
                raise InvalidEditError(f"{where}: segments[{i}].out_start_s={s.out_start_s} but the segments before it end at {out:.3f} s")
            fixed.append(Segment(s.src_start_s, s.src_end_s, out))
            out += s.length_s
        return cls(source=str(edl["source"]), sample_rate=sr, source_duration_s=dur, segments=tuple(fixed),
                   actions=tuple(actions), beat_order=tuple(order), fade_out=bool(edl.get("fade_out", False)), repair=repair, mood=mood)

    @classmethod
    def load(cls, path: str | Path, *, source_duration_s: float | None = None) -> "EditPlan":
        """Read an EDL JSON file.

        Raises
        ------
        InvalidEditError
            The file is missing, not JSON, or not a valid EDL.
        """
        p = Path(path)
        if not p.is_file():
            raise InvalidEditError(f"EDL file {str(p)!r} does not exist")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidEditError(f"{p.name}: not valid JSON ({exc})") from None
        return cls.from_edl(data, source_duration_s=source_duration_s, where=p.name)


def _optional_fields(edl: Mapping[str, Any], where: str) -> tuple[list, list, str, Mood | None]:
    """An EDL's ``actions``, ``beat_order``, ``repair`` and ``mood``, checked (defaults when absent)."""
    actions = edl.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise InvalidEditError(f"{where}: 'actions' must be a list of strings")
    order = edl.get("beat_order", [])
    if not isinstance(order, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in order):
        raise InvalidEditError(f"{where}: 'beat_order' must be a list of integers")
    repair = edl.get("repair", "")
    if not isinstance(repair, str):
        raise InvalidEditError(f"{where}: 'repair' must be a string")
    try:
        mood = parse_mood(edl.get("mood"))
    except InvalidEditError as exc:
        raise InvalidEditError(f"{where}: {exc}") from None
    return actions, order, repair, mood


def plan_from_order(analysis, order: Sequence[int], actions: Sequence[str], *, fade_out: bool, repair: str = "") -> EditPlan:
    """An :class:`EditPlan` of a :class:`~editor_rl.audio.analysis.SongAnalysis` playing source beats in ``order``."""
    return EditPlan.from_beat_order(
        source=analysis.path, sample_rate=analysis.sample_rate, source_duration_s=analysis.duration_s, beat_starts_s=analysis.beats_s,
        beat_ends_s=analysis.beat_ends_s, beat_order=order, actions=actions, fade_out=fade_out, repair=repair,
    )


def validate_segments(segments: Sequence[Segment], *, source_duration_s: float) -> None:
    """Check segment spans against each other and the source.

    Raises
    ------
    InvalidEditError
        Naming the first offending segment and value.
    """
    if not segments:
        raise InvalidEditError("edit plan has no segments")
    for i, s in enumerate(segments):
        if not (np.isfinite(s.src_start_s) and np.isfinite(s.src_end_s)):
            raise InvalidEditError(f"segments[{i}] has a non-finite time ({s.src_start_s}, {s.src_end_s})")
        if s.src_start_s < -_TOL_S:
            raise InvalidEditError(f"segments[{i}].src_start_s={s.src_start_s} is before the start of the song")
        if s.src_end_s <= s.src_start_s:
            raise InvalidEditError(f"segments[{i}] is empty or reversed: src_start_s={s.src_start_s}, src_end_s={s.src_end_s}")
        if s.src_end_s > source_duration_s + _TOL_S:
            raise InvalidEditError(f"segments[{i}].src_end_s={s.src_end_s} is past the end of the song ({source_duration_s:.3f} s)")
