"""The files of a repository's tables, read from their Parquet footers only.

Row counts, columns and the band of each visit file come from the footer (row-group
statistics), so that a summary of hundreds of files reads no data. A file whose footer
cannot be read is reported as a `FileProblem` and left out, so that the rest still works.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.compute.granularity import Table
from vigil.compute.repository import RepoLayout

__all__ = [
    "FileInfo",
    "FileProblem",
    "TableIndex",
    "footer",
    "forget_footers",
    "scan_files",
    "scan_table",
]

_FOOTER_THREADS = 4
"""Footers read at once: their reads and parsing release the GIL."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One readable Parquet file: its key (tract or visit), rows and bands."""

    path: Path
    key: int
    rows: int
    bands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that cannot be read, and why."""

    path: Path
    message: str


@dataclass
class TableIndex:
    """The readable files of one table (or one metric's values), by key."""

    table: Table
    files: dict[int, FileInfo] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    """The columns every readable file has (in the first file's order): a query of
    all the files can read only those."""
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows of all readable files."""
        return sum(info.rows for info in self.files.values())

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands of the ``band`` column, over all files."""
        return tuple(sorted({b for info in self.files.values() for b in info.bands}))

    def select(self, keys: list[int] | None = None, band: str | None = None) -> list[FileInfo]:
        """The files of *keys* (all when None) holding *band* (any when None)."""
        chosen = (
            self.files.values()
            if keys is None
            else [self.files[k] for k in keys if k in self.files]
        )
        if band is None:
            return list(chosen)
        return [info for info in chosen if not info.bands or band in info.bands]


def _bands(metadata: pq.FileMetaData, schema: pa.Schema) -> tuple[str, ...]:
    if "band" not in schema.names:
        return ()
    index = schema.get_field_index("band")
    found: set[str] = set()
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return ()
        low, high = stats.min, stats.max
        if isinstance(low, bytes):
            low, high = low.decode(), high.decode()
        if low != high:
            # Several bands in one row group: the footer does not list them.
            return ()
        found.add(str(low))
    return tuple(sorted(found))


def footer(path: Path) -> pq.FileMetaData:
    """The Parquet footer of *path*, read once while the file stays the same (same
    modification time and size).

    An index of a table and the queries through row-group statistics read the footers
    of every file; the quick look asks several such questions of each metric.

    Raises
    ------
    OSError, pyarrow.ArrowException
        When the file cannot be read or is not Parquet.
    """
    status = os.stat(path)
    return _cached_footer(str(path), status.st_mtime_ns, status.st_size)


@lru_cache(maxsize=8192)
def _cached_footer(path: str, mtime_ns: int, size: int) -> pq.FileMetaData:
    return pq.read_metadata(path)


def forget_footers() -> None:
    """Empty the cache of `footer` (to measure a cold start)."""
    _cached_footer.cache_clear()


def _footer(path: Path) -> tuple[pq.FileMetaData, pa.Schema] | str:
    """The footer of *path* and its schema, or why it cannot be read."""
    try:
        metadata = footer(path)
        return metadata, metadata.schema.to_arrow_schema()
    except (OSError, pa.ArrowException) as exc:
        return f"not a readable Parquet file ({exc})"


def scan_files(table: Table, files: dict[int, Path]) -> TableIndex:
    """Read the footers of *files* (by key) of *table*, a few at a time."""
    index = TableIndex(table)
    with ThreadPoolExecutor(_FOOTER_THREADS) as pool:
        footers = list(pool.map(_footer, files.values()))
    for (key, path), read in zip(files.items(), footers, strict=True):
        if isinstance(read, str):
            index.problems.append(FileProblem(path, read))
            continue
        metadata, schema = read
        if not index.files:
            index.columns = tuple(schema.names)
        else:
            # Files of one table written from different catalogues may differ.
            present = set(schema.names)
            index.columns = tuple(c for c in index.columns if c in present)
        index.files[key] = FileInfo(path, key, metadata.num_rows, _bands(metadata, schema))
    return index


def scan_table(layout: RepoLayout, table: Table) -> TableIndex:
    """Index the files of *table* in a repository."""
    return scan_files(table, layout.table_files(table))
