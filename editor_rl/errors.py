"""Exception hierarchy: every user-facing failure is an :class:`EditorRLError`.

The CLI turns any of these into one line on stderr and exit status 2; the HTTP layer turns them
into a 4xx answer with a JSON ``detail``. Messages always name the offending value.
"""

from __future__ import annotations


class EditorRLError(Exception):
    """Base class for every error editor-rl reports to a user."""


class ConfigError(EditorRLError, ValueError):
    """A configuration file, field or ``--set`` override is invalid."""


class InvalidAudioError(EditorRLError, ValueError):
    """An audio file cannot be used: unreadable, corrupt, silent, too short or too long."""


class InvalidEditError(EditorRLError, ValueError):
    """An edit plan or EDL is inconsistent with itself or with its source song."""


class PreferenceDataError(EditorRLError, ValueError):
    """A preference record or file is malformed."""


class StoreError(EditorRLError):
    """The feature store or preference store cannot be read or written."""


class ConflictError(StoreError):
    """A write that contradicts what is stored (a judgement replayed with another body, a second
    judgement of one pair by one rater); the HTTP layer answers 409."""


class ForbiddenError(StoreError):
    """A write this rater may not make (a verification pair of another rater's version); the HTTP
    layer answers 403."""
