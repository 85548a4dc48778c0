"""The Parquet files of a repository, listed once: table indexes and stored metric values."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import duckdb
import pyarrow as pa

from vigil.compute.errors import RepositoryError
from vigil.compute.files import FileProblem, TableIndex, footer, scan_files
from vigil.compute.granularity import TABLES, Table
from vigil.compute.repository import SORTED_BY_KEY, RepoLayout

__all__ = ["RepositoryFiles", "StoredFiles", "run_query"]

T = TypeVar("T")

# Errors that mean the query is wrong, not the data: a bug to report, never a file left out.
_QUERY_BUGS: tuple[type[Exception], ...] = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.NotImplementedException,
)


def run_query(repository: str, query: Callable[[], T]) -> T:
    """``query()``, its DuckDB errors about files as `RepositoryError` of *repository*.

    Raises
    ------
    RepositoryError
        A file cannot be read (`Repository` then pins it on the file and leaves it out).
    """
    try:
        return query()
    except _QUERY_BUGS:
        raise
    except duckdb.IOException as exc:
        raise RepositoryError(f"repository {repository!r}: {exc}") from None
    except duckdb.Error as exc:
        # DuckDB's class for "this file cannot be read" has moved between releases
        # (InvalidInputException, then the base Error for a bad footer): anything that is
        # not a mistake in the query itself is a file problem.
        raise RepositoryError(
            f"repository {repository!r}: a file is not valid Parquet ({exc})"
        ) from None


class StoredFiles(NamedTuple):
    """A stored metric's value files by key, their columns and the order of their rows."""

    files: dict[int, Path]
    columns: tuple[str, ...]
    sorted_by: tuple[str, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.files.values())


class RepositoryFiles:
    """The files of one repository, listed once and kept until `forget`.

    Safe to share between threads.

    Parameters
    ----------
    layout
        Where the repository keeps its tables and metric values.
    """

    def __init__(self, layout: RepoLayout) -> None:
        self.layout = layout
        self._lock = threading.RLock()
        self._tables: dict[Table, TableIndex] | None = None
        self._metric_indexes: dict[tuple[str, Table], TableIndex] = {}
        self._metric_listings: dict[tuple[str, Table], StoredFiles] = {}

    def forget(self) -> None:
        """Forget every list (after files changed)."""
        with self._lock:
            self._tables = None
            self._metric_indexes.clear()
            self._metric_listings.clear()

    def tables(self) -> dict[Table, TableIndex]:
        """The indexes of the object and source tables (footers only, cached)."""
        with self._lock:
            if self._tables is None:
                self._tables = {
                    table: scan_files(table, self.layout.table_files(table)) for table in TABLES
                }
            return self._tables

    def metric_index(self, name: str, table: Table) -> TableIndex:
        """The index of a stored metric's value files (every footer read, cached)."""
        with self._lock:
            key = (name, table)
            if key not in self._metric_indexes:
                self._metric_indexes[key] = scan_files(table, self.layout.metric_files(name, table))
            return self._metric_indexes[key]

    def checked(self, name: str, table: Table) -> bool:
        """Whether the value files of a stored metric have been read one by one."""
        with self._lock:
            return (name, table) in self._metric_indexes

    def metric_files(self, name: str, table: Table, partitions: list[int] | None) -> StoredFiles:
        """The value files of a metric (of *partitions*), their columns and row order.

        Until a query over them fails, the files are listed without reading their
        footers in Python (DuckDB reads each once, in parallel, and caches it); the
        first readable one gives the columns and the order its rows are sorted in
        (`SORTED_BY_KEY`; the fast path checks that every row keeps it). After a
        failure `metric_index` reads them all and leaves the unreadable ones out.
        """
        key = (name, table)
        with self._lock:
            if key not in self._metric_listings:
                files = self.layout.metric_files(name, table)
                columns: tuple[str, ...] = ()
                sorted_by: tuple[str, ...] = ()
                for path in files.values():
                    try:
                        metadata = footer(path)
                    except (OSError, pa.ArrowException):
                        continue
                    columns = tuple(metadata.schema.to_arrow_schema().names)
                    order = (metadata.metadata or {}).get(SORTED_BY_KEY.encode(), b"")
                    sorted_by = tuple(c for c in order.decode(errors="replace").split(",") if c)
                    break
                self._metric_listings[key] = StoredFiles(files, columns, sorted_by)
            listing = self._metric_listings[key]
            index = self._metric_indexes.get(key)
        if index is not None:
            files = {info.key: info.path for info in index.select(partitions)}
            return StoredFiles(files, index.columns, listing.sorted_by)
        if partitions is None:
            return listing
        chosen = {k: listing.files[k] for k in partitions if k in listing.files}
        return StoredFiles(chosen, listing.columns, listing.sorted_by)

    @property
    def problems(self) -> list[FileProblem]:
        """Files that cannot be read (left out of every answer)."""
        with self._lock:
            indexes = list(self._metric_indexes.values())
        found = [p for index in self.tables().values() for p in index.problems]
        found += [p for index in indexes for p in index.problems]
        return found
