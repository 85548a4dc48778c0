"""Exceptions of the verification SDK.

Every error raised while reading a file or a document names where the problem is: the
source (a file path or ``<request>``), the document (its index or name inside a
multi-document YAML file) and the field, so that a user can go straight to it.
"""

from __future__ import annotations

__all__ = [
    "DocumentError",
    "InvalidNameError",
    "SpecificationResolutionError",
    "UnitError",
    "UnknownMetricError",
    "VerifyError",
]


class VerifyError(Exception):
    """Base class of every error of `vigil.verify`."""


class DocumentError(VerifyError, ValueError):
    """A metric, specification, measurement or job document is malformed.

    Parameters
    ----------
    reason
        What is wrong, as a sentence fragment (``"is not a number"``).
    source
        The file path, or a label such as ``<request>`` for data that came from memory.
    document
        Which document of the source: its index in a multi-document YAML file or its name.
    field
        The field path inside the document (``"measurements[3].unit"``).
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        document: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.document = document
        self.field = field
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def located(
        self,
        *,
        source: str | None = None,
        document: str | int | None = None,
        field_prefix: str | None = None,
    ) -> DocumentError:
        """Return a copy of this error placed inside an outer source, document or field."""
        field = self.field
        if field_prefix:
            if not field:
                field = field_prefix
            elif field.startswith("["):
                field = f"{field_prefix}{field}"
            else:
                field = f"{field_prefix}.{field}"
        return type(self)(
            self.reason,
            source=self.source or source,
            document=self.document if self.document is not None else document,
            field=field,
        )


class UnitError(DocumentError):
    """A unit string is not understood, or two units do not convert."""


class InvalidNameError(DocumentError):
    """A metric or specification name is not of the form ``package.metric[.spec]``."""


class SpecificationResolutionError(DocumentError):
    """A specification's ``base`` cannot be found, or bases depend on each other in a cycle."""


class UnknownMetricError(VerifyError, KeyError):
    """A measurement names a metric that is not defined."""

    def __init__(self, metric: str, *, source: str | None = None, known: int = 0) -> None:
        self.metric = metric
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}unknown metric '{metric}' ({known} metrics are defined; "
            "add its definition to the job's 'metrics' or load its metrics package)"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
