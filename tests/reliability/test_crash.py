"""A server killed (SIGKILL) during ingest: after restart and client retries, every job
is stored exactly once and whole.

The shorter form of ``bench/crash.py`` (50 kills), on a real ``vigil serve`` process, on
SQLite and PostgreSQL. The client is `vigil.client` itself (retries, then its spool).
"""

from __future__ import annotations

from pathlib import Path

from _reliability import VigilServer
from crash import run_crash


def test_kills_during_ingest_leave_every_job_once_and_whole(
    live_server: VigilServer, token: str, tmp_path: Path
) -> None:
    result = run_crash(
        live_server,
        token,
        tmp_path / "spool",
        kills=2,
        dispatchers=3,
        measurements=300,
        seed=7,
        max_delay=0.4,
    )
    print(
        f"{result.kills} kills ({result.kills_during_request} with a request open),"
        f" {len(result.sent)} jobs: {dict(result.outcomes)}, {result.flushed} flushed"
    )
    assert result.kills == 2
    assert live_server.starts == 3
    assert result.errors == []
    assert result.left_in_spool == 0
    assert result.audit is not None
    assert result.sent, "no job was sent"
    assert result.audit.ok, result.audit.summary()
