"""Package versions: installed Python distributions and lsstsw/EUPS listings."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from vigil.client import (
    JobFileError,
    installed_packages,
    load_job,
    packages_from_file,
    prepare_job,
)

from ._support import REPOS_YAML, VERIFY_JOB, small_job

SHA = "0123456789abcdef0123456789abcdef01234567"


def _fake_distribution(site: Path, name: str, direct_url: dict[str, object]) -> None:
    info = site / f"{name}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_installed_distributions_are_listed_with_their_versions() -> None:
    packages = installed_packages()
    httpx = packages["httpx"]
    assert httpx["version"] == httpx["eups_version"] == metadata.version("httpx")
    assert set(httpx) >= {"name", "git_url", "git_sha", "git_branch", "eups_version"}


def test_git_installs_carry_url_sha_and_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vcs = {"vcs": "git", "commit_id": SHA, "requested_revision": "tickets/DM-1"}
    _fake_distribution(
        tmp_path, "faro_fake", {"url": "https://tok:en@github.com/lsst/faro", "vcs_info": vcs}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    faro = installed_packages()["faro_fake"]
    assert faro == {
        "name": "faro_fake",
        "version": "1.2.3",
        "eups_version": "1.2.3",
        "git_url": "https://github.com/lsst/faro",
        "git_sha": SHA,
        "git_branch": "tickets/DM-1",
    }


def test_lsstsw_repos_yaml() -> None:
    packages = packages_from_file(REPOS_YAML)
    assert packages["afw"]["git_url"] == "https://github.com/lsst/afw.git"
    assert packages["xrootd"]["git_branch"] == "lsst-dev"
    assert packages["sims_sed_library"]["git_url"] == "https://github.com/lsst/sims_sed_library.git"


def test_lsstsw_manifest_and_eups_list(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"# comment\nBUILD=b3600\nafw {SHA} 16.0-1-g0123456 base,geom\n")
    listing = tmp_path / "eups.txt"
    listing.write_text("   afw    16.0-1-g0123456+2    current w_2018_30 setup\n")
    assert packages_from_file(manifest)["afw"]["git_sha"] == SHA
    assert packages_from_file(manifest)["afw"]["eups_version"] == "16.0-1-g0123456"
    assert packages_from_file(listing)["afw"]["eups_version"] == "16.0-1-g0123456+2"


def test_unreadable_listing_says_which_line(tmp_path: Path) -> None:
    listing = tmp_path / "eups.txt"
    listing.write_text("afw 16.0\nlonely\n")
    with pytest.raises(JobFileError, match="line 2"):
        packages_from_file(listing)


def test_packages_the_job_carries_are_not_overwritten(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"afw {SHA} 17.0\nnumpy {SHA} 9.9\n")
    job = prepare_job(VERIFY_JOB, environ={}, git_dir=None, packages_from=[REPOS_YAML, manifest])
    packages = job["meta"]["packages"]
    # numpy: the job's own record from 2018, not this environment's numpy.
    assert packages["numpy"]["eups_version"] == "1.13.1+2"
    # afw: in the job already, so the job's record stays too.
    assert packages["afw"] == load_job(VERIFY_JOB)["meta"]["packages"]["afw"]
    # httpx: not in the job, taken from the environment.
    assert packages["httpx"]["version"] == metadata.version("httpx")


def test_listings_combine_field_by_field(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"pex_config {SHA} 17.0\n")
    job = prepare_job(
        small_job(), environ={}, git_dir=None, packages=False, packages_from=[REPOS_YAML, manifest]
    )
    assert job["meta"]["packages"]["pex_config"] == {
        "name": "pex_config",
        "git_url": "https://github.com/lsst/pex_config.git",
        "git_sha": SHA,
        "git_branch": None,
        "eups_version": "17.0",
    }
    assert "httpx" not in job["meta"]["packages"]
