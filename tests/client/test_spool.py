"""The on-disk spool: atomic files, oldest first, flushed to a real receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.client import (
    AuthenticationError,
    Outcome,
    ServerUnavailableError,
    Spool,
    VigilClient,
    default_spool_dir,
    ensure_identifier,
    load_job,
)

from ._support import Receiver, small_job

FAST: dict[str, Any] = {"retries": 1, "backoff": 0.01, "timeout": 2.0}


def _spooled(spool: Spool, count: int) -> list[str]:
    identifiers = []
    for _ in range(count):
        job = small_job()
        identifiers.append(ensure_identifier(job))
        spool.put(job)
    return identifiers


def test_put_writes_one_complete_file_per_identifier(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    (identifier,) = _spooled(spool, 1)
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [f"{identifier}.json"]
    job = load_job(spool.pending()[0])
    assert job["identifier"] == identifier
    assert job["measurements"][1]["value"] is None


def test_unsafe_identifiers_do_not_escape_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    path = spool.put(small_job(identifier="../../etc/passwd"))
    assert path.parent == tmp_path / "spool"
    assert load_job(path)["identifier"] == "../../etc/passwd"


def test_flush_sends_oldest_first_and_empties_the_spool(tmp_path: Path, receiver: Receiver) -> None:
    spool = Spool(tmp_path)
    identifiers = _spooled(spool, 5)
    with VigilClient(receiver.url, **FAST) as client:
        report = spool.flush(client)
    assert receiver.identifiers == identifiers
    assert [r.identifier for r in report.sent] == identifiers
    assert all(r.outcome is Outcome.STORED for r in report.sent)
    assert spool.pending() == [] and report.remaining == [] and report.error is None


def test_rejected_jobs_are_moved_aside_with_the_reason(tmp_path: Path, receiver: Receiver) -> None:
    spool = Spool(tmp_path)
    bad, good = _spooled(spool, 2)
    receiver.answer("422")
    with VigilClient(receiver.url, **FAST) as client:
        report = spool.flush(client)
    assert [r.identifier for r in report.sent] == [good]
    assert report.rejected[0].path == tmp_path / "rejected" / f"{bad}.json"
    assert report.rejected[0].path.exists()
    reason = (tmp_path / "rejected" / f"{bad}.reason.txt").read_text()
    assert "measurements.3.unit" in reason
    assert spool.pending() == []


def test_server_down_keeps_everything(tmp_path: Path, dead_url: str) -> None:
    spool = Spool(tmp_path)
    _spooled(spool, 3)
    before = spool.pending()
    with VigilClient(dead_url, **FAST) as client:
        report = spool.flush(client)
    assert isinstance(report.error, ServerUnavailableError)
    assert report.remaining == before == spool.pending()


def test_bad_token_stops_the_flush_and_keeps_the_jobs(tmp_path: Path, receiver: Receiver) -> None:
    spool = Spool(tmp_path)
    _spooled(spool, 2)
    receiver.answer("401")
    with VigilClient(receiver.url, **FAST) as client:
        report = spool.flush(client)
    assert isinstance(report.error, AuthenticationError)
    assert len(spool.pending()) == 2 and report.rejected == []
    assert len(receiver.requests) == 1


def test_a_corrupt_spool_file_is_rejected(tmp_path: Path, receiver: Receiver) -> None:
    (tmp_path / "broken.json").write_text('{"measurements": [')
    with VigilClient(receiver.url, **FAST) as client:
        report = Spool(tmp_path).flush(client)
    assert "not valid JSON" in report.rejected[0].reason
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"VIGIL_SPOOL_DIR": "/s"}, Path("/s")),
     ({"XDG_CACHE_HOME": "/c"}, Path("/c/vigil/spool")),
     ({}, Path.home() / ".cache" / "vigil" / "spool")],
)  # fmt: skip
def test_default_spool_dir(environ: dict[str, str], expected: Path) -> None:
    assert default_spool_dir(environ) == expected
