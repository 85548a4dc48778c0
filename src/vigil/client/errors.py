"""Errors of the pipeline-side client, each carrying what the user should do next."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BatchUnsupportedError",
    "ClientError",
    "JobFileError",
    "RejectedJobError",
    "ServerUnavailableError",
]


class ClientError(Exception):
    """Base class of every error raised by `vigil.client`.

    Parameters
    ----------
    message
        One line a user can act on.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BatchUnsupportedError(ClientError):
    """The server takes no batches of jobs (an older Vigil): send them one by one."""


class JobFileError(ClientError):
    """A Job JSON file cannot be read or is not an lsst.verify Job."""


class RejectedJobError(ClientError):
    """The server refused the job (HTTP 4xx): the job itself must be fixed.

    Parameters
    ----------
    message
        What the server said, as one line.
    status
        HTTP status of the answer.
    code
        Machine-readable error code from the server, if it sent one.
    field
        Path of the offending field in the job (``measurements.0.value``), if known.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class AuthenticationError(ClientError):
    """The server refused the token (HTTP 401 or 403).

    Parameters
    ----------
    message
        What went wrong and how to get a token.
    status
        HTTP status of the answer.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailableError(ClientError):
    """The server could not be reached or kept failing (5xx, timeouts) after retries."""
