"""Git facts of a real repository made in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.client import git_metadata
from vigil.client.git import redact_url

from ._support import git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "pipeline")


def test_head_commit_of_a_working_tree(repo: Path) -> None:
    meta = git_metadata(repo, environ={})
    assert meta == {
        "branch": "tickets/DM-42",
        "commit": git(repo, "rev-parse", "HEAD"),
        "author": "Ada Lovelace",
        "author_email": "ada@example.org",
        "committed_at": "2024-03-01T12:00:00+00:00",
        "repository_url": "https://github.com/lsst/pipeline.git",
    }


def test_ci_variables_give_branch_and_pull_request(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach")
    environ = {"GITHUB_HEAD_REF": "feature/x", "GITHUB_REF": "refs/pull/7/merge"}
    meta = git_metadata(repo, environ=environ)
    assert (meta["branch"], meta["pull_request"]) == ("feature/x", 7)


def test_detached_head_without_ci_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach")
    assert "branch" not in git_metadata(repo, environ={})


def test_pull_request_from_a_merge_commit(repo: Path) -> None:
    git(repo, "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m",
         "Merge pull request #128 from lsst/tickets/DM-42")  # fmt: skip
    assert git_metadata(repo, environ={})["pull_request"] == 128


def test_a_git_directory_works_too(repo: Path) -> None:
    assert git_metadata(repo / ".git", environ={})["author"] == "Ada Lovelace"


def test_not_a_repository_gives_nothing(tmp_path: Path) -> None:
    assert git_metadata(tmp_path, environ={}) == {}


def test_repository_without_commit_gives_nothing(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    assert git_metadata(tmp_path, environ={}) == {}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x-access-token:ghs_abc@github.com/o/r.git", "https://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r", "https://github.com/o/r"),
    ],
)
def test_credentials_never_leave_the_machine(url: str, expected: str) -> None:
    assert redact_url(url) == expected
