"""A log file as the log of a run: its lines read as records, sent to the server in batches.

`read_log` recognises the lines Python's `logging` and the LSST pipelines write, and takes
each one's level, time and logger from it:

- ``INFO 2024-03-04T05:06:07.890+00:00 lsst.isr (isr:{detector: 42})(isrTask.py:1234) -
  message`` (``pipetask --long-log``; lsst.log's long format, whose label becomes the
  record's unit);
- ``lsst.isr INFO: message`` (``pipetask`` without ``--long-log``, lsst.log's default);
- ``INFO:lsst.isr:message`` (`logging.basicConfig`'s default);
- ``2024-03-04 05:06:07,890 - lsst.isr - INFO - message`` and
  ``2024-03-04 05:06:07,890 INFO lsst.isr: message`` (formatters with ``asctime``; a time
  without a zone is the local time of the machine reading the file).

A traceback, and every indented line, belongs to the record before it (an uncaught
exception's traceback starts an ``ERROR`` record of its own); any other line is a record
whose level is a level name near its start, else ``INFO``, and whose time is the last
time seen. `log_batches` numbers the records' batches within a source derived from the
run and the file's content, so that sending the same file twice stores it once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.client.errors import ClientError, JobFileError, RejectedJobError, ServerUnavailableError
from vigil.client.spool import Spool
from vigil.client.transport import SubmitClient

__all__ = [
    "BATCH_RECORDS",
    "LEVELS",
    "LogSendReport",
    "file_digest",
    "flush_logs",
    "log_batches",
    "read_log",
    "send_log",
]

LEVELS = {
    "TRACE": 5,
    "DEBUG": 10,
    "VERBOSE": 15,
    "INFO": 20,
    "WARN": 30,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
    "FATAL": 50,
}
"""Level names (Python's and the LSST pipelines') and their numbers."""

BATCH_RECORDS = 1000
"""Records per batch at most (and about 2 MB)."""

_BATCH_BYTES = 2 << 20
_RECORD_CHARS = 64 << 10
_UNIT_CHARS = 64
_LOGGER_CHARS = 256
_LAST_LINES = 20

_LEVEL = r"(?P<level>TRACE|DEBUG|VERBOSE|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)"
_TIME = r"(?P<time>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
_FORMATS = [
    re.compile(
        rf"^{_LEVEL}\s+{_TIME}\s+(?P<logger>\S+)\s+\((?P<label>[^)]*)\)\([^)]*\)\s*-\s?"
        r"(?P<message>.*)$"
    ),
    re.compile(rf"^(?P<logger>[\w.-]+) {_LEVEL}: (?P<message>.*)$"),
    re.compile(rf"^{_LEVEL}:(?P<logger>[^:\s]*):(?P<message>.*)$"),
    re.compile(rf"^{_TIME}\s+-\s+(?P<logger>\S+)\s+-\s+{_LEVEL}\s+-\s+(?P<message>.*)$"),
    re.compile(
        rf"^\[?{_TIME}\]?\s+\[?{_LEVEL}\]?:?\s+"
        r"(?:(?P<logger>root|[a-z_]\w*(?:\.\w+)+):\s)?(?P<message>.*)$"
    ),
]
_LOOSE_LEVEL = re.compile(rf"\b{_LEVEL}\b")
_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b")


def _time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    # A time without a zone is the local time of the machine that wrote (and reads) it.
    return (value if value.tzinfo is not None else value.astimezone()).astimezone(UTC)


@dataclass(slots=True)
class _Record:
    time: datetime
    level: int
    message: list[str]
    logger: str | None = None
    unit: str | None = None
    size: int = 0

    def add(self, line: str) -> bool:
        """Append a continuation line; False when the record is full."""
        if self.size + len(line) > _RECORD_CHARS:
            return False
        self.message.append(line)
        self.size += len(line) + 1
        return True

    def document(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "time": self.time.isoformat(),
            "level": self.level,
            "message": "\n".join(self.message),
        }
        if self.logger:
            record["logger"] = self.logger[:_LOGGER_CHARS]
        if self.unit:
            record["unit"] = self.unit[:_UNIT_CHARS]
        return record


def _structured(line: str, last_time: datetime) -> _Record | None:
    for pattern in _FORMATS:
        match = pattern.match(line)
        if match is None:
            continue
        found = match.groupdict()
        time = _time(found["time"]) if found.get("time") else None
        return _Record(
            time=time or last_time,
            level=LEVELS[found["level"]],
            message=[found["message"]],
            logger=found.get("logger") or None,
            unit=(found.get("label") or "").strip() or None,
            size=len(found["message"]),
        )
    return None


def read_log(lines: Iterable[str], start: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The records of a log's lines, as ``POST /api/logs`` takes them.

    Parameters
    ----------
    lines
        The lines, with or without their line ends.
    start
        The time of the records before the first line that gives one (default: now).
    """
    last_time = start or datetime.now(UTC)
    current: _Record | None = None
    in_traceback = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        record = _structured(line, last_time)
        if record is None and current is not None:
            indented = line[:1] in (" ", "\t") or not line.strip()
            follows = in_traceback and bool(_EXCEPTION.match(line))
            joins = line == _TRACEBACK and current.level >= LEVELS["ERROR"] and not in_traceback
            if (indented or follows or joins) and current.add(line):
                in_traceback = (in_traceback or joins) and not follows
                continue
        if record is None:
            if not line.strip():
                continue
            loose = _LOOSE_LEVEL.search(line, 0, 40)
            level = LEVELS[loose.group("level")] if loose else LEVELS["INFO"]
            if line == _TRACEBACK:
                level = max(level, LEVELS["ERROR"])
            record = _Record(time=last_time, level=level, message=[line], size=len(line))
        if current is not None:
            yield current.document()
        current = record
        last_time = record.time
        in_traceback = line == _TRACEBACK
    if current is not None:
        yield current.document()


def _source(run: str, content_digest: str) -> str:
    return "log-" + hashlib.sha256(f"{run}\n{content_digest}".encode()).hexdigest()[:40]


def log_batches(
    records: Iterable[Mapping[str, Any]],
    *,
    run: str,
    content_digest: str,
    kind: str = "ci",
    title: str | None = None,
    meta: Mapping[str, Any] | None = None,
    status: str | None = None,
    failure: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``POST /api/logs`` documents of a run's records, numbered 1, 2, 3...

    Parameters
    ----------
    records
        The records (`read_log`).
    run
        The run's key.
    content_digest
        A digest of what the records come from: with *run*, it names the batches' source.
    kind, title, meta
        What the run is, as the server records it when the run is new.
    status
        Ends the run (``succeeded``, ``failed``, ``stopped``) with the last batch.
    failure
        How the run's process ended abnormally (``name``, ``exit_status``...), listed by
        the server among abnormal endings; its last lines are the log's.
    """
    source = _source(run, content_digest)
    head = {"run": run, "kind": kind, "title": title, "meta": dict(meta or {})}
    batches: list[dict[str, Any]] = []
    part: list[Mapping[str, Any]] = []
    size = 0
    last: list[str] = []

    def close() -> None:
        sequence = len(batches) + 1
        batches.append(
            {
                "identifier": f"{source}-{sequence:06d}",
                "source": source,
                "sequence": sequence,
                **head,
                "records": list(part),
            }
        )
        part.clear()

    for record in records:
        length = len(record["message"]) + 100
        if part and (len(part) >= BATCH_RECORDS or size + length > _BATCH_BYTES):
            close()
            size = 0
        part.append(record)
        size += length
        last = [*last, *str(record["message"]).splitlines()][-_LAST_LINES:]
    if part or not batches:
        close()
    if failure is not None:
        batches[-1]["processes"] = [{"status": "failed", "last_lines": last, **failure}]
    if status is not None:
        batches[-1]["status"] = status
    return batches


@dataclass
class LogSendReport:
    """What sending a log did.

    Attributes
    ----------
    run_id
        The server's id of the run (None when nothing reached it).
    lines
        Records sent or spooled.
    stored
        Records the server stored now (0 for batches it had already).
    spooled
        Batches left in the spool, sent on the next call.
    reason
        Why batches were spooled.
    """

    run_id: int | None = None
    lines: int = 0
    stored: int = 0
    spooled: list[Path] = field(default_factory=list)
    reason: str | None = None


def send_log(
    client: SubmitClient, batches: Sequence[Mapping[str, Any]], spool: Spool | None
) -> LogSendReport:
    """Send a log's batches in order; from the first the server cannot take, spool them.

    Raises
    ------
    RejectedJobError, AuthenticationError
        The server refused a batch or the token: nothing more is sent or spooled.
    ServerUnavailableError
        The server is unavailable and *spool* is None.
    """
    report = LogSendReport(lines=sum(len(b.get("records") or []) for b in batches))
    for index, batch in enumerate(batches):
        try:
            answer = client.send_log_batch(batch)
        except ServerUnavailableError as exc:
            if spool is None:
                raise
            report.spooled = [spool.put(rest) for rest in batches[index:]]
            report.reason = exc.message
            return report
        report.run_id = answer.get("run_id", report.run_id)
        report.stored += int(answer.get("stored") or 0)
    return report


def flush_logs(client: SubmitClient, spool: Spool) -> tuple[int, list[Path], ClientError | None]:
    """Send the spooled log batches, oldest first.

    Returns
    -------
    tuple
        Batches sent, batches refused (moved to ``rejected/``), and why the flush stopped
        early (server unavailable, token refused) or None.
    """
    sent = 0
    refused: list[Path] = []
    for path in spool.pending():
        try:
            client.send_log_batch(spool.load(path))
        except FileNotFoundError:
            continue
        except (JobFileError, RejectedJobError) as exc:
            refused.append(spool.reject(path, exc.message))
            continue
        except ClientError as exc:
            return sent, refused, exc
        path.unlink(missing_ok=True)
        sent += 1
    return sent, refused, None


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content (it names the source of the file's batches)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
