"""Detecting the environment a job runs in, from environment variables."""

from __future__ import annotations

import pytest

from vigil.client import detect_environment, detect_environment_name

JENKINS = {
    "JENKINS_URL": "https://ci.lsst.codes/",
    "BUILD_ID": "1234",
    "BUILD_URL": "https://ci.lsst.codes/job/validate_drp/1234/",
    "PRODUCT": "validate_drp",
    "dataset": "validation_data_cfht",
    "label": "centos-7",
    "refs": "tickets/DM-12345 master",
}

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "lsst/faro",
    "GITHUB_RUN_ID": "987654",
    "GITHUB_WORKFLOW": "metrics",
    "GITHUB_REF": "refs/pull/42/merge",
    "GITHUB_SHA": "a" * 40,
    "GITHUB_ACTOR": "octocat",
}

GITLAB = {
    "GITLAB_CI": "true",
    "CI_PIPELINE_ID": "555",
    "CI_JOB_URL": "https://gitlab.example.org/g/p/-/jobs/777",
    "CI_COMMIT_SHA": "b" * 40,
    "CI_COMMIT_REF_NAME": "feature",
    "CI_MERGE_REQUEST_IID": "17",
    "GITLAB_USER_EMAIL": "dev@example.org",
    "CI_PROJECT_PATH": "g/p",
}


def test_jenkins_fields_are_those_dispatch_verify_recorded() -> None:
    env = detect_environment(JENKINS, date="2024-01-02T03:04:05+00:00")
    assert env == {
        "env_name": "jenkins",
        "date": "2024-01-02T03:04:05+00:00",
        "ci_id": "1234",
        "ci_name": "validate_drp",
        "ci_dataset": "validation_data_cfht",
        "ci_label": "centos-7",
        "ci_url": "https://ci.lsst.codes/job/validate_drp/1234/",
        "ci_refs": "tickets/DM-12345 master",
        "status": 0,
    }


def test_github_actions_run_url_and_pull_request() -> None:
    env = detect_environment(GITHUB)
    assert env["env_name"] == "github-actions"
    assert env["ci_id"] == "987654"
    assert env["ci_url"] == "https://github.com/lsst/faro/actions/runs/987654"
    assert env["pull_request"] == 42
    assert (env["sha"], env["actor"], env["ci_name"]) == ("a" * 40, "octocat", "metrics")
    assert env["date"].endswith("+00:00")


def test_github_push_has_no_pull_request() -> None:
    env = detect_environment({**GITHUB, "GITHUB_REF": "refs/heads/main"})
    assert "pull_request" not in env
    assert env["ref"] == "refs/heads/main"


def test_gitlab_ci() -> None:
    env = detect_environment(GITLAB)
    assert env["env_name"] == "gitlab-ci"
    assert env["ci_id"] == "555"
    assert env["ci_url"] == "https://gitlab.example.org/g/p/-/jobs/777"
    assert env["pull_request"] == 17
    assert env["actor_email"] == "dev@example.org"
    assert (env["sha"], env["ref"]) == ("b" * 40, "feature")


def test_local_records_user_and_host() -> None:
    env = detect_environment({"USER": "ann", "HOSTNAME": "lap.example.org"})
    assert env["env_name"] == "local"
    assert (env["user"], env["host"]) == ("ann", "lap.example.org")


def test_a_forced_environment_wins_over_detection() -> None:
    env = detect_environment(GITHUB, env_name="jenkins")
    assert env["env_name"] == "jenkins"
    assert env["ci_id"] == "unknown"


def test_unknown_environment_names_the_choices() -> None:
    with pytest.raises(ValueError, match="github-actions, gitlab-ci, jenkins"):
        detect_environment({}, env_name="travis")


@pytest.mark.parametrize(
    ("environ", "name"),
    [(JENKINS, "jenkins"), (GITHUB, "github-actions"), (GITLAB, "gitlab-ci"), ({}, "local"),
     ({**JENKINS, **GITHUB}, "github-actions")],
)  # fmt: skip
def test_detection(environ: dict[str, str], name: str) -> None:
    assert detect_environment_name(environ) == name
