"""The error tiers of evalsuite.

Every error a user can cause derives from :class:`EvalsuiteError`; the CLI prints
those as a single line (no traceback) and exits with code 2. Anything else is a
bug and surfaces with its traceback.
"""

from __future__ import annotations


class EvalsuiteError(Exception):
    """Base of all errors that are the user's input, not our bug."""

    exit_code: int = 2


class SpecError(EvalsuiteError):
    """A suite file or CLI option is malformed; the message names the key."""


class ModelLoadError(EvalsuiteError):
    """A model source is missing, unreachable offline, corrupt or inconsistent."""


class DataError(EvalsuiteError):
    """A data file is missing or malformed; the message names the file and line."""


class RecordError(EvalsuiteError):
    """Run records are missing, incomplete or do not match each other."""


class ContextLengthError(EvalsuiteError):
    """A prompt does not fit the model's max_length (we never truncate silently)."""
