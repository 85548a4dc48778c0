"""Artifact rows in the database and artifact content in an fsspec file system."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any, cast

import fsspec
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..dbschema import SqlArtifact, SqlJob
from ..domain import Artifact

__all__ = ["ArtifactContentStore", "ArtifactStore"]

_COPY_CHUNK = 1024 * 1024
_TEMPORARY_SUFFIX = ".part"


def _artifact(row: SqlArtifact) -> Artifact:
    return Artifact(
        id=row.id,
        job_id=row.job_id,
        name=row.name,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        created_at=row.created_at,
    )


class ArtifactStore:
    """Queries on ``artifacts``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def replace(
        self,
        job_id: int,
        name: str,
        sha256: str,
        size: int,
        content_type: str,
        now: datetime,
    ) -> tuple[Artifact, str | None]:
        """Store an artifact, replacing one of the same name; also return the old hash."""
        old = self._session.scalars(
            select(SqlArtifact).where(SqlArtifact.job_id == job_id, SqlArtifact.name == name)
        ).first()
        old_hash = None
        if old is not None:
            old_hash = old.sha256
            self._session.delete(old)
            self._session.flush()
        new_id = self._session.execute(
            insert(SqlArtifact).returning(SqlArtifact.id),
            {
                "job_id": job_id,
                "name": name,
                "sha256": sha256,
                "size": size,
                "content_type": content_type,
                "created_at": now,
            },
        ).scalar_one()
        artifact = Artifact(
            id=int(new_id),
            job_id=job_id,
            name=name,
            sha256=sha256,
            size=size,
            content_type=content_type,
            created_at=now,
        )
        return artifact, old_hash

    def list_for_job(self, job_id: int) -> list[Artifact]:
        """The artifacts of a job, by name."""
        rows = self._session.scalars(
            select(SqlArtifact).where(SqlArtifact.job_id == job_id).order_by(SqlArtifact.name)
        )
        return [_artifact(r) for r in rows]

    def get(self, job_id: int, name: str) -> Artifact | None:
        """One artifact of a job."""
        row = self._session.scalars(
            select(SqlArtifact).where(SqlArtifact.job_id == job_id, SqlArtifact.name == name)
        ).first()
        return _artifact(row) if row else None

    def jobs_with_artifacts_beyond(self, branch: str, keep: int) -> list[int]:
        """Jobs of *branch* with artifacts, except the *keep* newest such jobs."""
        stmt = (
            select(SqlJob.id)
            .where(SqlJob.branch == branch)
            .where(select(SqlArtifact.id).where(SqlArtifact.job_id == SqlJob.id).exists())
            .order_by(SqlJob.id.desc())
            .offset(keep)
        )
        return list(self._session.scalars(stmt))

    def branches(self) -> list[str]:
        """The branches that have jobs with artifacts."""
        rows = self._session.scalars(
            select(SqlJob.branch)
            .join(SqlArtifact, SqlArtifact.job_id == SqlJob.id)
            .where(SqlJob.branch.is_not(None))
            .distinct()
        )
        return sorted(b for b in rows if b is not None)

    def delete_for_jobs(self, job_ids: list[int]) -> tuple[int, set[str]]:
        """Delete the artifact rows of *job_ids*; return how many and the hashes they used."""
        if not job_ids:
            return 0, set()
        hashes = set(
            self._session.scalars(
                select(SqlArtifact.sha256).where(SqlArtifact.job_id.in_(job_ids)).distinct()
            )
        )
        result = self._session.execute(delete(SqlArtifact).where(SqlArtifact.job_id.in_(job_ids)))
        return int(result.rowcount), hashes  # type: ignore[attr-defined]

    def unreferenced(self, hashes: Iterable[str]) -> set[str]:
        """Those of *hashes* that no artifact row uses any more."""
        wanted = set(hashes)
        if not wanted:
            return set()
        used = set(
            self._session.scalars(
                select(SqlArtifact.sha256).where(SqlArtifact.sha256.in_(wanted)).distinct()
            )
        )
        return wanted - used

    def total_size(self) -> int:
        """Bytes referenced by artifact rows (each distinct content counted once)."""
        sub = (
            select(SqlArtifact.sha256, func.max(SqlArtifact.size).label("size"))
            .group_by(SqlArtifact.sha256)
            .subquery()
        )
        return int(self._session.scalar(select(func.coalesce(func.sum(sub.c.size), 0))) or 0)


class ArtifactContentStore:
    """Content-addressed files: ``<root>/<sha[:2]>/<sha>`` on any fsspec file system.

    A file is written under a temporary name ending in ``.part`` in its own folder, then
    renamed into place (on a local folder: flushed to disk with fsync first), so a reader
    never sees a partial file; the temporary file is removed whatever stops the write
    (a full disk included). `prepare` removes the ones a killed process left behind.

    Parameters
    ----------
    url
        A local folder or an fsspec URL (``s3://bucket/prefix``, ``memory://x``). The
        folder is created by `prepare` (at start) or by the first write.
    """

    STALE_SECONDS: float = 600.0
    """Age after which a temporary file can only be left from a write that died."""

    def __init__(self, url: str) -> None:
        fs, root = fsspec.core.url_to_fs(url)
        self._fs: Any = fs
        self._root = root.rstrip("/")
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        self.location = self._root if self._local else url
        """Where the store is, to name it in messages."""

    def path(self, sha256: str) -> str:
        """Where the content of *sha256* lives."""
        return f"{self._root}/{sha256[:2]}/{sha256}"

    def put(self, source: IO[bytes]) -> tuple[str, int]:
        """Store a file's content; return its SHA-256 hex and size.

        The content is hashed first, then written under a temporary name and moved in
        place, so a reader never sees a partial file.

        Raises
        ------
        OSError
            The write failed (no space left, not writable); nothing of it is left.
        """
        digest = hashlib.sha256()
        size = 0
        source.seek(0)
        for chunk in iter(lambda: source.read(_COPY_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        sha256 = digest.hexdigest()
        target = self.path(sha256)
        if self._fs.exists(target):
            return sha256, size
        source.seek(0)
        self._write(target, f".{sha256}.{uuid.uuid4().hex}{_TEMPORARY_SUFFIX}", source)
        return sha256, size

    def _write(self, target: str, temporary_name: str, source: IO[bytes]) -> None:
        folder = target.rsplit("/", 1)[0]
        temporary = f"{folder}/{temporary_name}"
        if not self._local:
            try:
                with self._fs.open(temporary, "wb") as out:
                    for chunk in iter(lambda: source.read(_COPY_CHUNK), b""):
                        out.write(chunk)
                self._fs.mv(temporary, target)
            except BaseException:
                with contextlib.suppress(Exception):
                    if self._fs.exists(temporary):
                        self._fs.rm(temporary)
                raise
            return
        os.makedirs(folder, exist_ok=True)
        try:
            with self._open_for_writing(temporary) as out:
                for chunk in iter(lambda: source.read(_COPY_CHUNK), b""):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_folder(folder)

    @staticmethod
    def _open_for_writing(path: str) -> IO[bytes]:
        # "x": a temporary name is never reused; a clash is a bug, not a file to replace.
        return open(path, "xb")

    def exists(self, sha256: str) -> bool:
        """Whether the content is stored."""
        return bool(self._fs.exists(self.path(sha256)))

    def open(self, sha256: str) -> IO[bytes]:
        """Open stored content for reading."""
        return cast(IO[bytes], self._fs.open(self.path(sha256), "rb"))

    def iter_bytes(self, sha256: str, chunk_size: int = _COPY_CHUNK) -> Iterator[bytes]:
        """The stored content, in chunks."""
        with self.open(sha256) as handle:
            yield from iter(lambda: handle.read(chunk_size), b"")

    def delete(self, sha256: str) -> None:
        """Remove stored content (nothing if it is gone already)."""
        path = self.path(sha256)
        if self._fs.exists(path):
            self._fs.rm(path)

    def check_writable(self) -> None:
        """Create the store's folder if needed, and write, sync and remove a small file.

        Raises
        ------
        OSError
            The store cannot be written (a file in the folder's place, read-only, full).
        """
        if self._local:
            os.makedirs(self._root, exist_ok=True)
        probe = f"{self._root}/.probe"
        self._write(probe, f".probe.{uuid.uuid4().hex}{_TEMPORARY_SUFFIX}", io.BytesIO(b"ok"))
        self._fs.rm(probe)

    def remove_stale_temporary(self, older_than: float | None = None) -> int:
        """Remove temporary files older than *older_than* seconds (default `STALE_SECONDS`).

        Younger ones may belong to a write in progress in another process. Only local
        folders leave such files (an object store's write is whole or absent), so other
        stores are not listed. Returns how many were removed.
        """
        if not self._local or not os.path.isdir(self._root):
            return 0
        limit = time.time() - (self.STALE_SECONDS if older_than is None else older_than)
        removed = 0
        for folder in (self._root, *_subfolders(self._root)):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not (entry.name.startswith(".") and entry.name.endswith(_TEMPORARY_SUFFIX)):
                        continue
                    try:
                        if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:  # removed meanwhile by another process
                        continue
        return removed


def _subfolders(root: str) -> list[str]:
    with os.scandir(root) as entries:
        return [e.path for e in entries if e.is_dir(follow_symlinks=False)]


def _fsync_folder(folder: str) -> None:
    """Make a rename in *folder* durable (POSIX: sync the folder itself)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder descriptors
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - file systems that refuse to sync a folder
        pass
    finally:
        os.close(descriptor)
