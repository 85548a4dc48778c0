"""Where a job runs: Jenkins, GitHub Actions, GitLab CI, the LSST Data Facility, a laptop.

The result goes into the job's ``meta.env``. Jenkins and LDF fields keep the names and
shape ``dispatch_verify.py`` recorded (``ci_id``, ``ci_name``, ``ci_dataset``,
``ci_label``, ``ci_url``, ``status``, ``date``), so jobs dispatched by either tool read
the same; the other environments reuse the ``ci_*`` vocabulary and add their own fields.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ENVIRONMENTS",
    "branch_from_environment",
    "detect_environment",
    "detect_environment_name",
    "pull_request_from_environment",
    "repository_url_from_environment",
]

Environ = Mapping[str, str]

_UNKNOWN = "unknown"
_GITHUB_PULL_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


def _dataset(environ: Environ) -> str:
    # ``dataset`` (lower case) is what LSST's Jenkins jobs export.
    return environ.get("VIGIL_DATASET") or environ.get("dataset") or _UNKNOWN


def _jenkins(environ: Environ) -> dict[str, Any]:
    env: dict[str, Any] = {
        "ci_id": environ.get("BUILD_ID", _UNKNOWN),
        "ci_name": environ.get("PRODUCT") or environ.get("JOB_NAME") or _UNKNOWN,
        "ci_dataset": _dataset(environ),
        "ci_label": environ.get("label") or environ.get("NODE_NAME") or _UNKNOWN,
        # dispatch_verify wrote https://example.com when unknown; a fake URL is worse than none.
        "ci_url": environ.get("BUILD_URL"),
        "status": 0,
    }
    if environ.get("refs"):
        env["ci_refs"] = environ["refs"]
    pull_request = pull_request_from_environment(environ)
    if pull_request is not None:
        env["pull_request"] = pull_request
    return env


def _github_actions(environ: Environ) -> dict[str, Any]:
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY")
    run_id = environ.get("GITHUB_RUN_ID")
    env: dict[str, Any] = {
        "ci_id": run_id or _UNKNOWN,
        "ci_name": environ.get("GITHUB_WORKFLOW") or _UNKNOWN,
        "ci_dataset": _dataset(environ),
        "ci_label": environ.get("RUNNER_NAME") or _UNKNOWN,
        "ci_url": f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None,
        "status": 0,
        "job": environ.get("GITHUB_JOB"),
        "run_attempt": environ.get("GITHUB_RUN_ATTEMPT"),
        "event": environ.get("GITHUB_EVENT_NAME"),
        "ref": environ.get("GITHUB_REF"),
        "sha": environ.get("GITHUB_SHA"),
        "actor": environ.get("GITHUB_ACTOR"),
        "repository_url": f"{server}/{repository}" if repository else None,
        "pull_request": pull_request_from_environment(environ),
    }
    return {key: value for key, value in env.items() if value is not None or key == "ci_url"}


def _gitlab_ci(environ: Environ) -> dict[str, Any]:
    env: dict[str, Any] = {
        "ci_id": environ.get("CI_PIPELINE_ID") or _UNKNOWN,
        "ci_name": environ.get("CI_PROJECT_PATH") or _UNKNOWN,
        "ci_dataset": _dataset(environ),
        "ci_label": environ.get("CI_RUNNER_DESCRIPTION") or _UNKNOWN,
        "ci_url": environ.get("CI_JOB_URL") or environ.get("CI_PIPELINE_URL"),
        "status": 0,
        "job": environ.get("CI_JOB_NAME"),
        "job_id": environ.get("CI_JOB_ID"),
        "pipeline_url": environ.get("CI_PIPELINE_URL"),
        "ref": environ.get("CI_COMMIT_REF_NAME"),
        "sha": environ.get("CI_COMMIT_SHA"),
        "actor": environ.get("GITLAB_USER_LOGIN"),
        "actor_email": environ.get("GITLAB_USER_EMAIL"),
        "repository_url": environ.get("CI_PROJECT_URL"),
        "pull_request": pull_request_from_environment(environ),
    }
    return {key: value for key, value in env.items() if value is not None or key == "ci_url"}


def _ldf(environ: Environ) -> dict[str, Any]:
    # Only when forced with ``--env ldf``: the LSST Data Facility sets no telltale variable.
    return {
        "dataset": environ.get("DATASET", _UNKNOWN),
        "dataset_repo_url": environ.get("DATASET_REPO_URL"),
        "run_id": environ.get("RUN_ID", _UNKNOWN),
        "run_id_url": environ.get("RUN_ID_URL"),
        "version_tag": environ.get("VERSION_TAG", _UNKNOWN),
    }


def _local(environ: Environ) -> dict[str, Any]:
    user = environ.get("USER") or environ.get("USERNAME") or environ.get("LOGNAME")
    if not user:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name and no passwd entry (containers)
            user = _UNKNOWN
    return {
        "user": user,
        "host": environ.get("HOSTNAME") or socket.gethostname(),
        "ci_dataset": _dataset(environ),
    }


#: Environment names, in detection order, with the function that reads their fields.
ENVIRONMENTS: dict[str, Callable[[Environ], dict[str, Any]]] = {
    "github-actions": _github_actions,
    "gitlab-ci": _gitlab_ci,
    "jenkins": _jenkins,
    "ldf": _ldf,
    "local": _local,
}


def detect_environment_name(environ: Environ | None = None) -> str:
    """Name the environment a process runs in, from its environment variables.

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.

    Returns
    -------
    str
        ``"github-actions"``, ``"gitlab-ci"``, ``"jenkins"`` or ``"local"``.
    """
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github-actions"
    if environ.get("GITLAB_CI") == "true":
        return "gitlab-ci"
    if environ.get("JENKINS_URL") or environ.get("JENKINS_HOME"):
        return "jenkins"
    return "local"


def detect_environment(
    environ: Environ | None = None,
    *,
    env_name: str | None = None,
    date: str | None = None,
) -> dict[str, Any]:
    """Describe the environment a job runs in, for the job's ``meta.env``.

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.
    env_name
        Force this environment (one of `ENVIRONMENTS`) instead of detecting it.
    date
        Creation time of the job (ISO 8601); now, in UTC, when None.

    Returns
    -------
    dict
        ``env_name``, ``date`` and the fields of that environment.

    Raises
    ------
    ValueError
        If *env_name* is not a known environment.
    """
    environ = os.environ if environ is None else environ
    name = env_name or detect_environment_name(environ)
    if name not in ENVIRONMENTS:
        raise ValueError(f"Unknown environment {name!r}: choose one of {', '.join(ENVIRONMENTS)}.")
    env = ENVIRONMENTS[name](environ)
    env["env_name"] = name
    env["date"] = date or datetime.now(UTC).isoformat()
    return env


def pull_request_from_environment(environ: Environ | None = None) -> int | None:
    """Return the pull/merge request number the CI says it is building, if any.

    Reads GitHub's ``GITHUB_REF`` (``refs/pull/N/merge``), GitLab's
    ``CI_MERGE_REQUEST_IID``, and Jenkins' ``CHANGE_ID`` (multibranch pipelines) or
    ``ghprbPullId`` (GitHub pull request builder).

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.

    Returns
    -------
    int or None
        The number, or None outside a pull request build.
    """
    environ = os.environ if environ is None else environ
    match = _GITHUB_PULL_REF.match(environ.get("GITHUB_REF", ""))
    candidates = [
        match.group(1) if match else None,
        environ.get("CI_MERGE_REQUEST_IID"),
        environ.get("CHANGE_ID"),
        environ.get("ghprbPullId"),
    ]
    for candidate in candidates:
        # isdigit() is true for '²', which int() refuses: ASCII digits only.
        if candidate and candidate.isascii() and candidate.isdecimal():
            return int(candidate)
    return None


def branch_from_environment(environ: Environ | None = None) -> str | None:
    """Return the branch the CI says it is building (git checkouts in CI are often detached).

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.

    Returns
    -------
    str or None
        The branch name (the source branch of a pull request), or None.
    """
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_HEAD_REF"):
        return environ["GITHUB_HEAD_REF"]
    if environ.get("GITHUB_REF", "").startswith("refs/heads/"):
        return environ["GITHUB_REF"].removeprefix("refs/heads/")
    for key in ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH", "CHANGE_BRANCH"):
        if environ.get(key):
            return environ[key]
    if environ.get("BRANCH_NAME") and not environ.get("CHANGE_ID"):
        return environ["BRANCH_NAME"]
    if environ.get("GIT_BRANCH"):
        return environ["GIT_BRANCH"].removeprefix("origin/")
    return None


def repository_url_from_environment(environ: Environ | None = None) -> str | None:
    """Return the web URL of the repository the CI is building, if it says.

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.

    Returns
    -------
    str or None
        The URL, or None.
    """
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{environ['GITHUB_REPOSITORY']}"
    return environ.get("CI_PROJECT_URL") or environ.get("GIT_URL") or None
