"""The commits (and their authors) of a package between two jobs, from the jobs between.

A job records its packages' commits (``meta.packages``) and its own commit and author;
a package's commit has a known author when some job ran with that commit as its own.
The commits of a package from job *a* to job *b* are those the jobs of *b*'s branch on
*b*'s data ran with, walking back from *b* until the package is at *a*'s commit again (a
branch compared with its baseline: back to where it started, at most `COMMIT_JOBS` jobs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..storage.compare import PackageAtJob

__all__ = ["COMMIT_JOBS", "MAX_COMMITS", "PackageCommit", "PackageCommits", "commits_between"]

COMMIT_JOBS = 200
"""The most jobs of *b*'s branch read back for the commits between two jobs."""
MAX_COMMITS = 20
"""The most commits listed per package (the newest)."""


@dataclass(slots=True)
class PackageCommit:
    """One commit of a package, with its author when a job ran it as its own commit."""

    sha: str
    author: str | None = None
    author_email: str | None = None


@dataclass(slots=True)
class PackageCommits:
    """The commits of one package from job *a* to job *b*, newest first.

    Attributes
    ----------
    complete
        Whether the walk reached *a*'s commit (else the list may miss older commits).
    truncated
        Whether more than `MAX_COMMITS` commits were found (the newest are listed).
    """

    name: str
    git_url: str | None
    commits: list[PackageCommit]
    complete: bool
    truncated: bool = False


def commits_between(
    rows: Sequence[PackageAtJob],
    name: str,
    before: str | None,
    after: str,
    *,
    whole_branch: bool,
) -> PackageCommits:
    """The commits of package *name* from commit *before* (job *a*) to *after* (job *b*).

    Parameters
    ----------
    rows
        The package commits of *b*'s branch up to *b*, newest job first
        (`CompareStore.package_commits`).
    whole_branch
        Whether *rows* go back to the branch's first job: then a walk that never meets
        *before* (a branch compared with its baseline) still lists every commit.
    """
    authors: dict[str, tuple[str | None, str | None]] = {}
    for row in rows:
        if row.job_commit and row.author and row.job_commit not in authors:
            authors[row.job_commit] = (row.author, row.author_email)
    mine = [r for r in rows if r.package == name]
    start = next((i for i, r in enumerate(mine) if r.git_sha == after), None)
    git_url = next((r.git_url for r in mine if r.git_url), None)
    seen: list[str] = [after]
    complete = False
    for row in mine[start or 0 :] if start is not None else []:
        if row.git_sha == before:
            complete = True
            break
        if row.git_sha not in seen:
            seen.append(row.git_sha)
    commits = [PackageCommit(sha, *authors.get(sha, (None, None))) for sha in seen]
    return PackageCommits(
        name=name,
        git_url=git_url,
        commits=commits[:MAX_COMMITS],
        complete=complete or (whole_branch and start is not None),
        truncated=len(commits) > MAX_COMMITS,
    )
