"""The visit sources of one band, as the repeatability metrics and the PSF statistics
read them: the band's files (an error naming the bands there are when it has none), the
columns checked, and the flag a good source must not have."""

# SQL here is assembled from fixed column names and escaped literals only.

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vigil.compute.errors import ComputeError, MissingColumnsError
from vigil.compute.files import FileInfo, scan_table
from vigil.compute.repository import RepoLayout
from vigil.compute.sql import file_list, string_literal

__all__ = ["BandSources", "HasLayout", "band_sources", "cuts_text", "repo_layout"]


class HasLayout(Protocol):
    """An object that knows its repository's layout (a `vigil.explorer.Repository`)."""

    @property
    def layout(self) -> RepoLayout: ...


def repo_layout(root_or_repo: Path | str | HasLayout) -> RepoLayout:
    """The layout of a repository folder (checked), or of an object that has one."""
    if isinstance(root_or_repo, (str, Path)):
        layout = RepoLayout(Path(root_or_repo))
        layout.check()
        return layout
    return root_or_repo.layout


@dataclass(frozen=True)
class BandSources:
    """The visit source files of one band and the columns they have."""

    band: str
    files: list[FileInfo]
    columns: tuple[str, ...]

    def flag_sql(self) -> str:
        """SQL true for a source whose ``psfFlux_flag`` is set (false without the column)."""
        return "coalesce(psfFlux_flag, false)" if "psfFlux_flag" in self.columns else "false"

    def rows_sql(self) -> str:
        """The FROM and WHERE of a query over the band's sources."""
        files = file_list(info.path for info in self.files)
        return f"read_parquet({files}) WHERE band = {string_literal(self.band)}"


def band_sources(
    layout: RepoLayout,
    band: str,
    needed: Iterable[str],
    *,
    metric: str,
    needs: str,
    error: type[ComputeError],
) -> BandSources:
    """The visit sources of *band*, having every column of *needed*.

    Raises
    ------
    ComputeError
        *error*, "*needs* visit sources in band ...", when the band has no source file.
    MissingColumnsError
        A column of *needed* is missing (named for *metric*).
    """
    index = scan_table(layout, "sources")
    files = index.select(band=band)
    if not files:
        found = ", ".join(index.bands) or "none"
        raise error(
            f"{needs} visit sources in band {band!r}; the repository's sources have bands: {found}"
        )
    missing = [c for c in needed if c not in index.columns]
    if missing:
        raise MissingColumnsError(metric, "sources", missing)
    return BandSources(band, files, index.columns)


def cuts_text(cuts: Mapping[str, int], *, zeros: bool = True) -> str:
    """What each step left out, for people ("reason: 1,234; ..."); steps that left out
    nothing are named only with *zeros*."""
    return "; ".join(f"{reason}: {count:,}" for reason, count in cuts.items() if zeros or count)
