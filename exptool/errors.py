"""Exceptions raised by exptool's core. Each carries the process exit code the CLI should use."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ExptoolError(Exception):
    """Base class for every error exptool raises on purpose.

    Attributes:
        exit_code: the exit status the command line uses for this error.
        hint: an optional second line telling the user what to do next.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ExptoolError):
    """Bad usage or bad input (exit 2)."""

    exit_code = EXIT_USAGE


class InvalidNameError(UsageError):
    """An experiment or run name that is not a single safe path component."""


class NotAWorkspaceError(UsageError):
    """No workspace was found from the current directory upwards."""


class NotFoundError(UsageError):
    """An experiment, run, config or checkpoint that does not exist."""


class AlreadyExistsError(UsageError):
    """Something would be overwritten."""


class NoCurrentRunError(UsageError):
    """No experiment or run was given and none is current."""


class ConfigError(UsageError):
    """A config file that cannot be read or an override that does not apply."""


class CheckpointError(ExptoolError):
    """A checkpoint that cannot be saved or loaded."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that holds objects the safe loader refuses."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint exptool may not read (permissions): not missing, not damaged, never deleted."""


class TrainerError(UsageError):
    """A trainer that cannot be found or loaded."""


class RunLockedError(ExptoolError):
    """Another process is already training this run."""


class WorkFailedError(ExptoolError):
    """The work itself failed (a trainer raised, an I/O error)."""
