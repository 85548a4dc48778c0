"""An on-disk spool of jobs the server could not take yet.

One file per job, ``<identifier>.json``, holding the job exactly as it would be sent
(identifier included, so a resend is recognised by the server as the same job).
Files are written atomically (temporary file, then `os.replace`) so a crash never
leaves half a job. Jobs the server rejects when flushed are moved to ``rejected/``
next to a ``.reason.txt`` file saying why.

Several processes may flush the same spool at once: a job may then be sent twice,
which the server's idempotency on ``identifier`` makes harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.client.errors import ClientError, JobFileError, RejectedJobError
from vigil.client.jobs import dump_job, load_job
from vigil.client.transport import DispatchResult, SubmitClient

__all__ = ["FlushReport", "Rejection", "Spool", "default_spool_dir"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def default_spool_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where jobs are spooled when no directory is given.

    ``$VIGIL_SPOOL_DIR``, else ``$XDG_CACHE_HOME/vigil/spool``, else
    ``~/.cache/vigil/spool``.

    Parameters
    ----------
    environ
        Environment variables; `os.environ` when None.

    Returns
    -------
    Path
        The spool directory (not created).
    """
    environ = os.environ if environ is None else environ
    if environ.get("VIGIL_SPOOL_DIR"):
        return Path(environ["VIGIL_SPOOL_DIR"]).expanduser()
    cache = environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "vigil" / "spool"


@dataclass(frozen=True)
class Rejection:
    """A spooled job the server refused, moved out of the spool.

    Attributes
    ----------
    path
        Where the job now lies, under ``rejected/``.
    reason
        Why, as one line.
    """

    path: Path
    reason: str


@dataclass
class FlushReport:
    """What a flush of the spool did.

    Attributes
    ----------
    sent
        Jobs the server took (stored or already stored), oldest first.
    rejected
        Jobs the server refused, moved to ``rejected/``.
    remaining
        Spool files still waiting.
    error
        Why the flush stopped early (server unavailable, bad token), or None.
    """

    sent: list[DispatchResult] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    remaining: list[Path] = field(default_factory=list)
    error: ClientError | None = None


class Spool:
    """A directory of jobs waiting to be sent.

    Parameters
    ----------
    path
        The spool directory; created when the first job is put.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    @property
    def rejected_dir(self) -> Path:
        """Where refused jobs are moved."""
        return self.path / "rejected"

    def file_for(self, identifier: str) -> Path:
        """The spool file of the job with this identifier.

        Parameters
        ----------
        identifier
            The job's identifier.

        Returns
        -------
        Path
            ``<identifier>.json``, or a hash of the identifier when it is not a safe
            file name.
        """
        name = identifier if _SAFE_NAME.match(identifier) else _digest(identifier)
        return self.path / f"{name}.json"

    def put(self, job: Mapping[str, Any]) -> Path:
        """Write *job* to the spool, atomically.

        Parameters
        ----------
        job
            The job, with its top-level ``identifier``.

        Returns
        -------
        Path
            The spool file.
        """
        identifier = job.get("identifier")
        if not isinstance(identifier, str) or not identifier:
            raise ValueError("Only a job with an 'identifier' can be spooled.")
        target = self.file_for(identifier)
        _write_atomically(target, dump_job(job))
        return target

    def pending(self) -> list[Path]:
        """Spool files waiting to be sent, oldest first.

        Returns
        -------
        list of Path
            The files.
        """
        if not self.path.is_dir():
            return []
        files = []
        for path in self.path.glob("*.json"):
            try:
                files.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:  # flushed by another process meanwhile
                continue
        return [path for *_, path in sorted(files)]

    def load(self, path: Path) -> dict[str, Any]:
        """Read one spooled job.

        Parameters
        ----------
        path
            A file from `pending`.

        Returns
        -------
        dict
            The job.
        """
        return load_job(path)

    def reject(self, path: Path, reason: str) -> Path:
        """Move a spooled job to ``rejected/`` with a ``.reason.txt`` beside it.

        Parameters
        ----------
        path
            The spool file.
        reason
            Why the job cannot be sent.

        Returns
        -------
        Path
            The job's new place.
        """
        target = self.rejected_dir / path.name
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        _write_atomically(target.with_suffix(".reason.txt"), f"{stamp} {reason}\n")
        with contextlib.suppress(FileNotFoundError):  # another process dealt with it
            os.replace(path, target)
        return target

    def flush(self, client: SubmitClient) -> FlushReport:
        """Send every spooled job, oldest first.

        A file is removed only once the server has answered 200 or 201. A job the
        server refuses (4xx) is moved to ``rejected/``. The flush stops at the first
        job the server cannot take for reasons not of the job's making (server
        unavailable, token refused), leaving it and the later ones in the spool.

        Parameters
        ----------
        client
            Sends the jobs.

        Returns
        -------
        FlushReport
            What was sent, rejected and left.
        """
        report = FlushReport()
        pending = self.pending()
        for index, path in enumerate(pending):
            try:
                job = self.load(path)
                result = client.send_job(job)
            except FileNotFoundError:
                continue
            except (JobFileError, RejectedJobError) as exc:
                report.rejected.append(Rejection(self.reject(path, exc.message), exc.message))
                continue
            except ClientError as exc:  # server unavailable, token refused: retry later
                report.error = exc
                report.remaining = [p for p in pending[index:] if p.exists()]
                return report
            path.unlink(missing_ok=True)
            report.sent.append(
                DispatchResult(
                    identifier=result.identifier,
                    outcome=result.outcome,
                    measurements=result.measurements,
                    job_id=result.job_id,
                    url=result.url,
                    spool_path=path,
                )
            )
        return report


def _digest(identifier: str) -> str:
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # File times are coarse (a few ms) on Linux: stamp ours so "oldest first" holds.
        now = time.time_ns()
        os.utime(temporary, ns=(now, now))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
