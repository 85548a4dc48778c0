"""Errors that carry their HTTP meaning: a status, a stable code and a message to act on."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AnalysisSettingsError",
    "ArtifactNotFoundError",
    "ArtifactStoreError",
    "AuthenticationError",
    "BranchNotFoundError",
    "ConflictError",
    "DatabaseSchemaError",
    "DatabaseUnavailableError",
    "InsufficientStorageError",
    "InvalidArtifactError",
    "InvalidJobError",
    "InvalidJsonError",
    "InvalidRequestError",
    "JobNotFoundError",
    "MetricNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "SeriesNotFoundError",
    "SpecificationNotFoundError",
    "TokenNotFoundError",
    "UserExistsError",
    "UserNotFoundError",
    "VigilError",
]


class VigilError(Exception):
    """Root of the server's errors.

    Parameters
    ----------
    message
        A sentence saying what is wrong and, where possible, what to do.
    field
        The input field at fault, as a path (``measurements[3].unit``).
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The ``detail`` object of the JSON error body."""
        detail: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            detail["field"] = self.field
        return detail


class InvalidRequestError(VigilError):
    """The request is malformed (bad JSON, bad query parameter)."""

    status_code = 400
    code = "invalid_request"


class InvalidJsonError(InvalidRequestError):
    """The request body is not JSON."""

    code = "invalid_json"


class InvalidJobError(VigilError):
    """A job document failed validation; nothing of it was stored."""

    status_code = 422
    code = "invalid_job"


class InvalidArtifactError(VigilError):
    """An artifact upload is not acceptable (bad name, empty, ...)."""

    status_code = 422
    code = "invalid_artifact"


class PayloadTooLargeError(VigilError):
    """A request body, blob or artifact exceeds its configured limit."""

    status_code = 413
    code = "payload_too_large"


class AuthenticationError(VigilError):
    """No token, or a token that is unknown or revoked."""

    status_code = 401
    code = "not_authenticated"


class PermissionDeniedError(VigilError):
    """The user is known but may not do this."""

    status_code = 403
    code = "permission_denied"


class ConflictError(VigilError):
    """The request conflicts with stored state."""

    status_code = 409
    code = "conflict"


class UserExistsError(ConflictError):
    """A user of that name already exists."""

    code = "user_exists"


class DatabaseSchemaError(VigilError):
    """The database schema is missing or not at the version this code needs."""

    status_code = 503
    code = "database_schema"


class AnalysisSettingsError(VigilError):
    """The per-metric analysis settings file cannot be used (``VIGIL_ANALYSIS_SETTINGS_FILE``)."""

    status_code = 500
    code = "analysis_settings"


class DatabaseUnavailableError(VigilError):
    """The database cannot be reached now (down, refusing connections, locked, pool full).

    Answered with ``Retry-After``: the request may succeed once the database is back.
    """

    status_code = 503
    code = "database_unavailable"


class ArtifactStoreError(VigilError):
    """The artifact store cannot be written or read (missing, not a folder, read-only)."""

    status_code = 503
    code = "artifact_store_unavailable"


class InsufficientStorageError(VigilError):
    """The artifact store has no space left for a file; nothing of it was kept."""

    status_code = 507
    code = "insufficient_storage"


class NotFoundError(VigilError):
    """Something asked for does not exist."""

    status_code = 404
    code = "not_found"


class JobNotFoundError(NotFoundError):
    code = "job_not_found"


class BranchNotFoundError(NotFoundError):
    """No job ran on a branch named in the request."""

    code = "branch_not_found"


class MetricNotFoundError(NotFoundError):
    code = "metric_not_found"


class SpecificationNotFoundError(NotFoundError):
    code = "specification_not_found"


class SeriesNotFoundError(NotFoundError):
    code = "series_not_found"


class ArtifactNotFoundError(NotFoundError):
    code = "artifact_not_found"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class TokenNotFoundError(NotFoundError):
    code = "token_not_found"
