"""One selected point of a metric page: its job, value and code changes (as SQuaSH showed
under its plots)."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import JobSummary, MetricInfo, Package, PackageChanges
from ..storage.dashboard import MeasurementValue

__all__ = ["ChangedPackage", "MetricPoint", "changed_packages"]


@dataclass(slots=True)
class ChangedPackage:
    """A package that differs between the point's previous job and its job.

    ``author`` is the author of the job's own commit when this package is built from
    it (its SHA is the job's commit), else None: packages carry no authors.
    """

    name: str
    change: str
    before: Package | None
    after: Package | None
    author: str | None = None


@dataclass(slots=True)
class MetricPoint:
    """A point of a metric's series: what the page shows under its plot when selected."""

    metric: MetricInfo
    job: JobSummary
    value: MeasurementValue | None
    base: JobSummary | None
    """The previous point's job (the previous job on its branch), if any."""
    changes: list[ChangedPackage]


def changed_packages(changes: PackageChanges | None, job: JobSummary) -> list[ChangedPackage]:
    """The rows of the point's code-changes table: changed, then added, then removed."""
    if changes is None:
        return []
    sha, author = job.facts.commit_sha, job.facts.author

    def by(package: Package) -> str | None:
        return author if sha and package.git_sha == sha else None

    rows = [
        ChangedPackage(c.name, "changed", c.before, c.after, by(c.after)) for c in changes.changed
    ]
    rows += [ChangedPackage(p.name, "added", None, p, by(p)) for p in changes.added]
    rows += [ChangedPackage(p.name, "removed", p, None) for p in changes.removed]
    return rows
