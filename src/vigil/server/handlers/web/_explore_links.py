"""Drill-down links from a job's measurements to its data repository in the explorer.

A job names its data repository in its metadata: ``meta["data_repository"]``, the name of
a repository directly under ``VIGIL_EXPLORE_ROOTS`` (a path is taken by its last folder
name, as the explorer names repositories). Each measurement then links to
``/explore/{name}?metric=<metric>&<dataId>``: the explorer opens the metric (the
measurement's ``package.name``, with its band when the repository names metrics per band)
at the measurement's tract, patch, visit or detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["DATA_REPOSITORY_KEY", "data_repository", "drill_down_links"]

DATA_REPOSITORY_KEY = "data_repository"
"""The job metadata key that names the job's data repository."""

_DATA_ID_KEYS = ("band", "tract", "patch", "visit", "detector")


def data_repository(meta: Mapping[str, Any]) -> str | None:
    """The repository name a job's metadata gives (None when it gives none)."""
    value = meta.get(DATA_REPOSITORY_KEY)
    if not isinstance(value, str) or not value.strip():
        return None
    return PurePath(value.strip().rstrip("/")).name or None


def drill_down_links(
    meta: Mapping[str, Any],
    measurements: Sequence[tuple[str, Mapping[str, Any]]],
    roots: Sequence[Any],
) -> list[str | None]:
    """The explorer link of each ``(metric, dataId)``, or all None.

    None for every measurement when the job names no repository, or one that is not
    under the configured roots.
    """
    from vigil.explorer.mount import RepositoryNotFoundError, resolve_repository

    name = data_repository(meta)
    if name is None or not roots:
        return [None] * len(measurements)
    try:
        resolve_repository(list(roots), name)
    except RepositoryNotFoundError:
        return [None] * len(measurements)
    links: list[str | None] = []
    for metric, data_id in measurements:
        query: dict[str, str] = {"metric": metric}
        for key in _DATA_ID_KEYS:
            value = data_id.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                query[key] = str(value)
        links.append(f"/explore/{quote(name)}?{urlencode(query)}")
    return links
