"""Software versions behind a job, for ``meta.packages`` (as lsst.verify records them).

Each package is ``{"name", "git_url", "git_sha", "git_branch", "eups_version"}``; Python
distributions also carry ``version`` (equal to ``eups_version``, which is what
lsst.verify consumers read).
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from vigil.client.errors import JobFileError
from vigil.client.git import git_metadata, redact_url

__all__ = ["installed_packages", "package_record", "packages_from_file"]

_SHA = re.compile(r"^[0-9a-f]{40}$")


def package_record(
    name: str,
    *,
    version: str | None = None,
    git_url: str | None = None,
    git_sha: str | None = None,
    git_branch: str | None = None,
) -> dict[str, Any]:
    """Build one ``meta.packages`` entry.

    Parameters
    ----------
    name
        Package name.
    version
        Version (EUPS version for Stack packages, distribution version for Python).
    git_url, git_sha, git_branch
        Where the code came from, when known.

    Returns
    -------
    dict
        The entry, with every key present (None when unknown), as lsst.verify writes it.
    """
    return {
        "name": name,
        "git_url": git_url,
        "git_sha": git_sha,
        "git_branch": git_branch,
        "eups_version": version,
    }


def installed_packages() -> dict[str, dict[str, Any]]:
    """List the Python distributions installed where the job runs.

    Git URL and commit come from a distribution's ``direct_url.json`` (PEP 610) when
    it was installed from a VCS; for an editable install of a local git checkout they
    come from that checkout.

    Returns
    -------
    dict
        Distribution name → package entry (see `package_record`), plus ``version``.
    """
    packages: dict[str, dict[str, Any]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        # The first distribution on sys.path is the one imported; later ones are shadowed.
        if not name or name in packages:
            continue
        record = package_record(name, version=dist.version, **_vcs_info(dist))
        record["version"] = dist.version
        packages[name] = record
    return packages


def _vcs_info(dist: metadata.Distribution) -> dict[str, str | None]:
    try:
        direct_url = json.loads(dist.read_text("direct_url.json") or "null")
    except (OSError, ValueError):
        return {}
    if not isinstance(direct_url, dict) or not isinstance(direct_url.get("url"), str):
        return {}
    url: str = direct_url["url"]
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git":
        revision = vcs.get("requested_revision")
        commit = vcs.get("commit_id")
        is_branch = bool(revision) and not (commit and str(commit).startswith(str(revision)))
        return {
            "git_url": redact_url(url),
            "git_sha": commit,
            "git_branch": revision if is_branch else None,
        }
    if isinstance(direct_url.get("dir_info"), dict) and url.startswith("file://"):
        # A local (often editable) install: the checkout itself knows its commit.
        git = git_metadata(Path(unquote(urlsplit(url).path)), environ={})
        if git:
            return {
                "git_url": git.get("repository_url"),
                "git_sha": git.get("commit"),
                "git_branch": git.get("branch"),
            }
    return {}


def packages_from_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read package versions from an lsstsw or EUPS listing.

    Three formats are understood:

    - lsstsw ``etc/repos.yaml``: ``name: URL`` or ``name: {url: URL, ref: BRANCH}``
      gives ``git_url`` and ``git_branch``;
    - lsstsw ``build/manifest.txt``: ``name SHA VERSION [deps]`` lines (``#`` comments,
      ``BUILD=bNNNN``) give ``git_sha`` and ``eups_version``;
    - ``eups list`` output: ``name VERSION [tags...]`` lines give ``eups_version``.

    Parameters
    ----------
    path
        The listing.

    Returns
    -------
    dict
        Package name → package entry (see `package_record`); fields the listing does
        not give are None.

    Raises
    ------
    JobFileError
        If the file cannot be read or is in none of these formats.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobFileError(f"Cannot read package listing {path}: {exc.strerror or exc}.") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if isinstance(document, dict):
        return _from_repos_yaml(document, path)
    return _from_lines(text, path)


def _from_repos_yaml(document: dict[Any, Any], path: Path) -> dict[str, dict[str, Any]]:
    packages = {}
    for name, spec in document.items():
        if isinstance(spec, str):
            url, ref = spec, None
        elif isinstance(spec, dict) and isinstance(spec.get("url"), str):
            url, ref = spec["url"], spec.get("ref")
        else:
            raise JobFileError(
                f"{path}: entry {name!r} is neither a URL nor a mapping with 'url'; "
                "is this an lsstsw repos.yaml?"
            )
        packages[str(name)] = package_record(str(name), git_url=redact_url(url), git_branch=ref)
    return packages


def _from_lines(text: str, path: Path) -> dict[str, dict[str, Any]]:
    packages = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("BUILD"):
            continue
        fields = line.split()
        if len(fields) < 2:
            raise JobFileError(
                f"{path}, line {number}: expected 'name SHA VERSION' (lsstsw manifest.txt) "
                f"or 'name VERSION [tags]' (eups list), got {line!r}."
            )
        name = fields[0]
        if len(fields) >= 3 and _SHA.match(fields[1]):
            packages[name] = package_record(name, git_sha=fields[1], version=fields[2])
        else:
            packages[name] = package_record(name, version=fields[1])
    return packages
