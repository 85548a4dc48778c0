"""Concurrent dispatchers: every job stored exactly once with all its measurements.

The shorter form of ``bench/load.py`` (8 dispatchers x 500 jobs), on a real
``vigil serve`` process, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from _reliability import VigilServer, audit, expected, make_job
from load import run_load, send_concurrently

from vigil.client import Outcome


def test_concurrent_dispatchers_lose_and_double_nothing(
    live_server: VigilServer, token: str
) -> None:
    # Eight dispatchers, each with its own jobs.
    result = run_load(live_server, token, dispatchers=8, jobs=12, measurements=10)
    assert result.errors == []
    assert result.audit is not None
    assert result.audit.ok, result.audit.summary()
    assert result.audit.stored == 96
    assert result.audit.measurements == 960
    assert sum(result.outcomes.values()) == 96

    # Eight CI retries of the same jobs racing each other: the identifier decides.
    jobs = [make_job("same", i, 10) for i in range(10)]
    outcomes, errors, _ = send_concurrently(live_server.url, token, [jobs] * 8)
    assert errors == []
    assert outcomes[Outcome.STORED.value] == 10
    assert outcomes[Outcome.ALREADY_STORED.value] == 70
    sent = {j["identifier"]: expected(j) for j in jobs}
    sent.update(
        {
            f"load-d{d}-{i}": expected(make_job(f"load-d{d}", i, 10))
            for d in range(8)
            for i in range(12)
        }
    )
    found = audit(live_server.database_url, sent)
    assert found.ok, found.summary()
