"""Jobs as the rest of the server sees them, and how their metadata is read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "PULL_REQUEST_MAX",
    "Blob",
    "JobDetail",
    "JobFacts",
    "JobSummary",
    "Measurement",
    "Package",
    "PackageChange",
    "PackageChanges",
    "extract_job_facts",
    "extract_packages",
    "pull_request_number",
]


@dataclass(slots=True)
class JobFacts:
    """The first-class columns of a job, read from its ``meta``."""

    run_at: datetime | None = None
    environment: str | None = None
    ci_id: str | None = None
    ci_name: str | None = None
    ci_url: str | None = None
    ci_dataset: str | None = None
    dataset: str | None = None
    dataset_repo_url: str | None = None
    instrument: str | None = None
    filter_name: str | None = None
    branch: str | None = None
    commit_sha: str | None = None
    pull_request: int | None = None
    author: str | None = None
    author_email: str | None = None


@dataclass(slots=True)
class Package:
    """A software package a job ran with."""

    name: str
    version: str | None = None
    git_url: str | None = None
    git_sha: str | None = None
    git_branch: str | None = None


@dataclass(slots=True)
class JobSummary:
    """A job without its measurements."""

    id: int
    identifier: str
    created_at: datetime
    facts: JobFacts
    submitted_by: str | None = None
    measurement_count: int | None = None


@dataclass(slots=True)
class Measurement:
    """A stored measurement; ``value`` None means not a number."""

    id: int
    job_id: int
    series_id: int
    metric_name: str
    identifier: str | None
    value: float | None
    unit: str
    data_id: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    blob_refs: list[str] = field(default_factory=list)
    series_key: str | None = None


@dataclass(slots=True)
class Blob:
    """A stored blob of a job."""

    id: int
    job_id: int
    identifier: str
    name: str | None
    data: dict[str, Any]


@dataclass(slots=True)
class JobDetail:
    """A job with its metadata, packages and measurements."""

    summary: JobSummary
    meta: dict[str, Any]
    packages: list[Package]
    measurements: list[Measurement]


@dataclass(slots=True)
class PackageChange:
    """A package whose version or commit differs between two jobs."""

    name: str
    before: Package
    after: Package


@dataclass(slots=True)
class PackageChanges:
    """The code changes from one job to another."""

    base_job_id: int
    job_id: int
    added: list[Package]
    changed: list[PackageChange]
    removed: list[Package]


def _text(value: Any, limit: int) -> str | None:
    """A non-empty string column value, or None ("unknown" counts as missing)."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    if not text or text.lower() == "unknown":
        return None
    return text[:limit]


def _first(*values: Any, limit: int = 256) -> str | None:
    for value in values:
        text = _text(value, limit)
        if text is not None:
            return text
    return None


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    try:
        return result.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        return None


_PR_RE = re.compile(r"(?:^|/|#)(\d+)/?$")

PULL_REQUEST_MAX = 2**31 - 1
"""The largest pull request number a job can carry (its column holds 32 bits)."""


def pull_request_number(value: Any) -> int | None:
    """The pull request number *value* gives: ``42``, ``"42"``, ``"#42"``, a PR URL or
    ``{"number": 42}``; None when it gives none (null, a word such as ``"false"``).

    Raises
    ------
    ValueError
        *value* is a number but no pull request number: not a whole number, not
        positive, or over `PULL_REQUEST_MAX`. The message completes "Field X ...".
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        return pull_request_number(value.get("number"))
    if isinstance(value, float):
        raise ValueError("is not a whole number; a pull request number is a positive integer")
    if isinstance(value, int):
        number = value
    else:
        match = _PR_RE.search(str(value).strip())
        if match is None:
            return None
        digits = match[1].lstrip("0") or "0"
        # Beyond 10 digits it is out of range: int() of 4,301 digits would even fail.
        number = int(digits) if len(digits) <= 10 else PULL_REQUEST_MAX + 1
    if not 0 < number <= PULL_REQUEST_MAX:
        raise ValueError(
            f"is not a pull request number: it must be a positive integer of at most"
            f" {PULL_REQUEST_MAX}"
        )
    return number


def _pull_request(value: Any) -> int | None:
    try:
        return pull_request_number(value)
    except ValueError:
        return None  # refused at ingest; a document only judged (the gate) goes without


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dataset_from_repo_url(url: str | None) -> str | None:
    if not url:
        return None
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last.removesuffix(".git") or None


def extract_job_facts(meta: Mapping[str, Any]) -> JobFacts:
    """Read a job's first-class columns from its ``meta``.

    Sources, first found wins: ``meta.git`` (written by Vigil's dispatch client), then
    ``meta.env`` (lsst.verify's ``dispatch_verify.py``), then top-level keys. The
    dataset is ``meta.env.ci_dataset``, else ``meta.dataset``, else the last part of
    ``meta.dataset_repo_url`` without ``.git``.
    """
    env = _mapping(meta.get("env"))
    git = _mapping(meta.get("git"))
    dataset_repo_url = _first(meta.get("dataset_repo_url"), env.get("dataset_repo_url"), limit=2048)
    return JobFacts(
        run_at=_datetime(meta.get("date") or env.get("date") or meta.get("run_at")),
        environment=_first(env.get("env_name"), meta.get("environment"), limit=64),
        ci_id=_first(env.get("ci_id"), env.get("run_id")),
        ci_name=_first(env.get("ci_name"), env.get("workflow")),
        ci_url=_first(env.get("ci_url"), env.get("run_url"), limit=2048),
        ci_dataset=_first(env.get("ci_dataset")),
        dataset=_first(
            env.get("ci_dataset"),
            meta.get("dataset"),
            _dataset_from_repo_url(dataset_repo_url),
        ),
        dataset_repo_url=dataset_repo_url,
        instrument=_first(meta.get("instrument"), env.get("instrument"), limit=64),
        filter_name=_first(meta.get("filter_name"), meta.get("band"), limit=64),
        branch=_first(git.get("branch"), env.get("git_branch"), env.get("branch")),
        commit_sha=_first(git.get("commit"), env.get("git_commit"), env.get("commit"), limit=64),
        pull_request=_pull_request(
            git.get("pull_request")
            if git.get("pull_request") is not None
            else env.get("pull_request")
        ),
        author=_first(git.get("author"), env.get("author")),
        author_email=_first(git.get("author_email"), env.get("author_email")),
    )


def extract_packages(meta: Mapping[str, Any]) -> list[Package]:
    """Read ``meta.packages``: lsst.verify's dict name → {...} or a list of dicts."""
    raw = meta.get("packages")
    if isinstance(raw, dict):
        items: list[tuple[str, Any]] = list(raw.items())
    elif isinstance(raw, list):
        items = [(str(p.get("name", "")), p) for p in raw if isinstance(p, dict)]
    else:
        return []
    packages = []
    for key, value in items:
        info = value if isinstance(value, dict) else {"version": value}
        name = _first(info.get("name"), key)
        if name is None:
            continue
        packages.append(
            Package(
                name=name,
                version=_first(info.get("eups_version"), info.get("version")),
                git_url=_first(info.get("git_url"), limit=2048),
                git_sha=_first(info.get("git_sha"), limit=64),
                git_branch=_first(info.get("git_branch")),
            )
        )
    return packages
