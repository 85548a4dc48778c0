"""Git facts about the code a pipeline ran: branch, commit, author, pull request."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vigil.client.environment import (
    branch_from_environment,
    pull_request_from_environment,
    repository_url_from_environment,
)

__all__ = ["GIT_TIMEOUT", "git_metadata", "redact_url"]

#: Seconds allowed to each git call; a hung git (network filesystem, lock) must not block.
GIT_TIMEOUT = 5.0

_MERGE_SUBJECT = re.compile(r"^Merge pull request #(\d+)\b")
# One NUL-separated line: sha, author name, author email, committer date, subject.
_LOG_FORMAT = "%H%x00%an%x00%ae%x00%cI%x00%s"


def _git(path: Path, *args: str) -> str | None:
    """Run one git command in *path*; None when git is missing, fails or hangs."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(path), *args],  # noqa: S607 - git from PATH, like any user
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def redact_url(url: str) -> str:
    """Remove credentials (``https://user:token@host/...``) from a URL.

    scp-like addresses (``git@github.com:org/repo.git``) carry no secret and are
    returned unchanged.

    Parameters
    ----------
    url
        A remote URL.

    Returns
    -------
    str
        The URL without user information.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def git_metadata(
    path: str | Path = ".", *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Describe the HEAD commit of the git working tree at *path*, for ``meta.git``.

    The branch and the pull request number come from the CI's variables first
    (checkouts in CI are usually detached), then from git. Credentials in the remote
    URL are removed.

    Parameters
    ----------
    path
        A directory inside a working tree, or a ``.git`` directory.
    environ
        Environment variables used for CI hints; `os.environ` when None.

    Returns
    -------
    dict
        Some of ``branch``, ``commit``, ``author``, ``author_email``, ``committed_at``,
        ``pull_request``, ``repository_url``: unknown ones are left out. Empty when
        *path* is not in a git repository, the repository has no commit, or git is
        not installed.
    """
    path = Path(path)
    environ = os.environ if environ is None else environ
    log = _git(path, "log", "-1", f"--format={_LOG_FORMAT}")
    if not log:
        return {}
    commit, author, email, committed_at, subject = (log.split("\x00") + [""] * 5)[:5]
    meta: dict[str, Any] = {
        "commit": commit,
        "author": author,
        "author_email": email,
        "committed_at": committed_at,
    }
    branch = branch_from_environment(environ)
    if branch is None:
        head = _git(path, "rev-parse", "--abbrev-ref", "HEAD")
        branch = head if head and head != "HEAD" else None
    meta["branch"] = branch

    pull_request = pull_request_from_environment(environ)
    if pull_request is None:
        match = _MERGE_SUBJECT.match(subject)
        pull_request = int(match.group(1)) if match else None
    meta["pull_request"] = pull_request

    remote = _git(path, "config", "--get", "remote.origin.url")
    meta["repository_url"] = (
        redact_url(remote) if remote else repository_url_from_environment(environ)
    )
    return {key: value for key, value in meta.items() if value not in (None, "")}
