"""Artifacts: upload, list, serve, and the per-branch storage policy."""

from __future__ import annotations

import errno
import logging
import mimetypes
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from sqlalchemy.orm import Session

from ..config import Settings
from ..domain import INLINE_CONTENT_TYPES, Artifact, check_artifact_name, sniff_image_type
from ..exceptions import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    InsufficientStorageError,
    InvalidArtifactError,
    JobNotFoundError,
    PayloadTooLargeError,
)
from ..storage.artifacts import ArtifactContentStore, ArtifactStore
from ..storage.jobs import JobStore

__all__ = ["ArtifactService", "PruneResult", "check_store", "prepare_store"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PruneResult:
    """What applying the storage policy removed."""

    artifacts_removed: int
    files_removed: int


class ArtifactService:
    """Stores artifact content by SHA-256 and keeps storage bounded per branch."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        content: ArtifactContentStore,
        *,
        artifacts: ArtifactStore,
        jobs: JobStore,
    ) -> None:
        self._session = session
        self._settings = settings
        self._content = content
        self._artifacts = artifacts
        self._jobs = jobs

    def upload(
        self, job_id: int, name: str, source: IO[bytes], declared_type: str | None = None
    ) -> Artifact:
        """Attach a file to a job (replacing a file of the same name).

        Raises
        ------
        InvalidArtifactError
            The name is unsafe (``..``, absolute, control characters).
        PayloadTooLargeError
            The file exceeds ``max_artifact_bytes``.
        JobNotFoundError
            No such job.
        """
        problem = check_artifact_name(name)
        if problem is not None:
            raise InvalidArtifactError(f"The artifact name {name!r} {problem}.", field="name")
        source.seek(0, os.SEEK_END)
        size = source.tell()
        if size > self._settings.max_artifact_bytes:
            raise PayloadTooLargeError(
                f"The artifact {name!r} is {size} bytes; the limit is"
                f" {self._settings.max_artifact_bytes} (VIGIL_MAX_ARTIFACT_BYTES).",
                field="file",
            )
        summary = self._jobs.get_summary(job_id)
        self._session.rollback()
        if summary is None:
            raise JobNotFoundError(f"No job has the id {job_id}.")
        source.seek(0)
        content_type = _content_type(name, source.read(16), declared_type)
        try:
            sha256, size = self._content.put(source)
        except OSError as exc:
            raise _write_error(self._content, exc, f"the artifact {name!r}") from exc
        try:
            artifact, old_hash = self._artifacts.replace(
                job_id, name, sha256, size, content_type, datetime.now(UTC)
            )
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if old_hash and old_hash != sha256:
            self._delete_unreferenced({old_hash})
        if summary.facts.branch is not None:
            self.prune(summary.facts.branch)
        return artifact

    def list_artifacts(self, job_id: int) -> list[Artifact]:
        """The artifacts of a job."""
        if self._jobs.get_summary(job_id) is None:
            self._session.rollback()
            raise JobNotFoundError(f"No job has the id {job_id}.")
        artifacts = self._artifacts.list_for_job(job_id)
        self._session.rollback()
        return artifacts

    def get_artifact(self, job_id: int, name: str) -> Artifact:
        """One artifact of a job."""
        artifact = self._artifacts.get(job_id, name)
        self._session.rollback()
        if artifact is None or not self._content.exists(artifact.sha256):
            raise ArtifactNotFoundError(f"Job {job_id} has no artifact {name!r}.")
        return artifact

    def content(self, artifact: Artifact) -> Iterator[bytes]:
        """The stored bytes of an artifact, in chunks."""
        return self._content.iter_bytes(artifact.sha256)

    def prune(self, branch: str | None = None) -> PruneResult:
        """Apply ``artifact_keep_per_branch`` to *branch*, or to every branch.

        The default branch, and jobs without a branch, keep all their artifacts. Content
        files are deleted once no artifact row references their hash.
        """
        keep = self._settings.artifact_keep_per_branch
        if keep is None:
            return PruneResult(0, 0)
        branches = [branch] if branch is not None else self._artifacts.branches()
        removed = 0
        hashes: set[str] = set()
        try:
            for name in branches:
                if name == self._settings.default_branch:
                    continue
                old_jobs = self._artifacts.jobs_with_artifacts_beyond(name, keep)
                count, used = self._artifacts.delete_for_jobs(old_jobs)
                removed += count
                hashes |= used
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        files = self._delete_unreferenced(hashes)
        if removed:
            logger.info("Pruned %d artifacts and %d files", removed, files)
        return PruneResult(removed, files)

    def remove_stale_temporary(self) -> int:
        """Remove the temporary files that writes which died left behind; return how many.

        Raises
        ------
        ArtifactStoreError
            The artifact folder cannot be listed.
        """
        return _remove_stale(self._content)

    def _delete_unreferenced(self, hashes: set[str]) -> int:
        unused = self._artifacts.unreferenced(hashes)
        self._session.rollback()
        for sha256 in unused:
            self._content.delete(sha256)
        return len(unused)


def _write_error(
    content: ArtifactContentStore, exc: OSError, what: str
) -> ArtifactStoreError | InsufficientStorageError:
    """The error answered for a failed write to the artifact store: 507 when it is full."""
    logger.error("Writing %s to the artifact store %s failed: %s", what, content.location, exc)
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorageError(
            f"The artifact store is full ({reason}): nothing of {what} was kept. Send it"
            " again once space has been freed on the server."
        )
    return ArtifactStoreError(
        f"The artifact store cannot be written ({reason}): nothing of {what} was kept."
    )


def check_store(content: ArtifactContentStore) -> None:
    """Refuse an artifact store that cannot be written.

    Raises
    ------
    ArtifactStoreError
        One line naming the store (``VIGIL_ARTIFACT_URL``) and why.
    """
    try:
        content.check_writable()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.filename:
            reason = f"{reason}: {exc.filename}"
        raise ArtifactStoreError(
            f"The artifact folder {content.location} is not writable ({reason});"
            " fix it or set VIGIL_ARTIFACT_URL."
        ) from None


def prepare_store(content: ArtifactContentStore) -> int:
    """At start: refuse an unwritable store, remove stale temporary files; return how many.

    Raises
    ------
    ArtifactStoreError
        The store cannot be written (see `check_store`).
    """
    check_store(content)
    return _remove_stale(content)


def _remove_stale(content: ArtifactContentStore) -> int:
    try:
        removed = content.remove_stale_temporary()
    except OSError as exc:
        raise ArtifactStoreError(
            f"The artifact folder {content.location} cannot be listed ({exc.strerror or exc})."
        ) from None
    if removed:
        logger.info("Removed %d stale temporary files from %s", removed, content.location)
    return removed


def _content_type(name: str, head: bytes, declared: str | None) -> str:
    """The type an artifact is stored and served with.

    Raster images count as images only when their bytes prove it; any other type is
    kept for information but always served as an attachment.
    """
    sniffed = sniff_image_type(head)
    if sniffed is not None:
        return sniffed
    guessed, _ = mimetypes.guess_type(name)
    chosen = guessed or (declared or "").split(";")[0].strip() or "application/octet-stream"
    if chosen in INLINE_CONTENT_TYPES:
        # Says it is an image but its bytes are not: never let it be shown inline.
        return "application/octet-stream"
    return chosen[:256]
