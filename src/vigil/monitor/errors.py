"""Errors of the monitor's runner side, each saying what to fix."""

from __future__ import annotations

__all__ = ["MonitorConfigError", "MonitorError"]


class MonitorError(Exception):
    """Base class of the runner's errors.

    Parameters
    ----------
    message
        One line a user can act on.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MonitorConfigError(MonitorError):
    """A monitor configuration (or a DESI mapping file it names) is malformed.

    Parameters
    ----------
    message
        What is wrong.
    key
        The offending key, as a path (``flavors.science.steps[2].start``).
    source
        The file, if known.
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.key = key
        self.source = source
