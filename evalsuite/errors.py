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


class NonFiniteError(EvalsuiteError):
    """A NaN or an infinity where a number must be finite: a model's output, a record, a statistic's input.

    Never a score, a leaderboard row or a passing gate: the scorer, the decoders and the diagnostics raise it
    when the model's numbers go non-finite (the message names the model, the unit, the first offending request
    and, where found, the first layer whose output went non-finite), and the record readers and the statistics
    raise its :class:`NonFiniteRecordError` form. ``request`` is the index of the first offending request in the
    list the raiser was given (for the caller that can name its document).
    """

    def __init__(self, message: str, *, request: int | None = None) -> None:
        super().__init__(message)
        self.request = request

    def within(self, context: str) -> "NonFiniteError":
        """The same error with ``context`` (a model and unit, a document) in front of its message."""
        return type(self)(f"{context}: {self}", request=self.request)


class NonFiniteRecordError(NonFiniteError, RecordError):
    """A record or a statistic's input holds NaN or infinity (a :class:`RecordError` too: records that are unusable)."""


class DistributedSetupError(EvalsuiteError):
    """The launcher's environment is inconsistent (e.g. more ranks per node than GPUs)."""


class RankLostError(EvalsuiteError):
    """A collective failed because another rank of the process group is gone. Not a unit's failure: the run
    ends on every surviving rank (rerunning resumes), instead of recording the unit as an error."""


class DataMissingError(DataError):
    """A task's data file is absent (not malformed): the unit is recorded ``not run``, never faked or dropped.
    The runner decides a unit's status from this type, not from its message."""
