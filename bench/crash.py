"""Crash during ingest: ``vigil serve`` killed with SIGKILL 50 times while jobs arrive.

Run: .venv/bin/python bench/crash.py [--kills 50] [--dispatchers 4] [--measurements 300]
                                     [--databases sqlite,postgresql] [--seed 1] [--quick]

``--quick`` kills the server 5 times instead of 50: a check that the test runs and loses
nothing, not the figure.

For each database, a real ``vigil serve`` process on 127.0.0.1 (SQLite: a new file;
PostgreSQL: a new database, dropped at the end). Dispatcher threads send jobs without
pause through `vigil.client.send_or_spool`, as ``vigil dispatch`` does: the client
retries, and a job it still cannot deliver goes to its on-disk spool. Meanwhile the
server's process group is killed with SIGKILL at random moments (the kill waits for an
HTTP request to be open, so it lands in the middle of an ingest) and started again on
the same port and database. After the last kill the dispatchers stop, their spools are
flushed, and the tables are read with SQL.

Printed: kills (and how many hit an open request), jobs sent, how they were delivered,
and the audit: lost, duplicated and partial jobs (must be 0, 0, 0). The exit status is 1
otherwise.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reliability import (
    Audit,
    ExpectedJob,
    VigilServer,
    audit,
    create_token,
    expected,
    fresh_postgres,
    make_job,
    migrate,
)

from vigil.client import ClientError, Spool, VigilClient, send_or_spool

__all__ = ["CrashResult", "run_crash"]


class _CountingTransport(httpx.HTTPTransport):
    """An HTTP transport that knows how many requests are open right now."""

    def __init__(self) -> None:
        super().__init__()
        self.open = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.open += 1
        try:
            response = super().handle_request(request)
            response.read()  # the answer is complete before the request counts as closed
            return response
        finally:
            with self._lock:
                self.open -= 1


@dataclass(slots=True)
class CrashResult:
    """What a crash run did and what the database holds afterwards."""

    kills: int = 0
    kills_during_request: int = 0
    sent: dict[str, ExpectedJob] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    flushed: int = 0
    left_in_spool: int = 0
    errors: list[str] = field(default_factory=list)
    audit: Audit | None = None

    @property
    def ok(self) -> bool:
        """Every job stored once and whole, nothing left undelivered, no error."""
        return (
            not self.errors and not self.left_in_spool and self.audit is not None and self.audit.ok
        )


def run_crash(
    server: VigilServer,
    token: str,
    spool_root: Path,
    *,
    kills: int = 50,
    dispatchers: int = 4,
    measurements: int = 300,
    seed: int = 1,
    max_delay: float = 1.0,
) -> CrashResult:
    """Kill *server* *kills* times while dispatchers send jobs; then audit its database.

    *server* must be running. After each kill it is started again, and it is left
    running at the end.
    """
    rng = random.Random(seed)
    result = CrashResult()
    transports = [_CountingTransport() for _ in range(dispatchers)]
    lock = threading.Lock()
    stop = threading.Event()

    def client(transport: httpx.BaseTransport | None = None) -> VigilClient:
        # Patient enough to ride out most restarts; what it cannot deliver is spooled.
        return VigilClient(
            server.url,
            token,
            timeout=20,
            retries=6,
            backoff=0.2,
            total_timeout=15,
            transport=transport,
        )

    def dispatcher(number: int) -> None:
        spool = Spool(spool_root / f"dispatcher-{number}")
        index = 0
        with client(transports[number]) as sender:
            while not stop.is_set():
                job = make_job(f"crash-d{number}", index, measurements, seed=seed)
                index += 1
                with lock:
                    result.sent[job["identifier"]] = expected(job)
                try:
                    outcome = send_or_spool(sender, job, spool).outcome.value
                except ClientError as exc:
                    with lock:
                        result.errors.append(f"{job['identifier']}: {exc.message}")
                    continue
                with lock:
                    result.outcomes[outcome] += 1

    threads = [threading.Thread(target=dispatcher, args=(d,)) for d in range(dispatchers)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, max_delay))
            deadline = time.monotonic() + 10
            while not any(t.open for t in transports) and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the ingest
            open_now = any(t.open for t in transports)
            server.kill()
            result.kills += 1
            result.kills_during_request += open_now
            server.start()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    with client() as sender:
        for d in range(dispatchers):
            report = Spool(spool_root / f"dispatcher-{d}").flush(sender)
            result.flushed += len(report.sent)
            result.left_in_spool += len(report.remaining)
            result.errors += [r.reason for r in report.rejected]
            if report.error is not None:
                result.errors.append(report.error.message)
    result.audit = audit(server.database_url, result.sent)
    return result


def _report(name: str, result: CrashResult, seconds: float) -> None:
    audit_result = result.audit
    assert audit_result is not None
    print(f"\n{name}: {result.kills} kills in {seconds:.0f} s")
    print(f"  kills with an ingest request open: {result.kills_during_request}/{result.kills}")
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(result.outcomes.items()))
    print(f"  jobs sent: {len(result.sent)} ({outcomes}); flushed from spools: {result.flushed}")
    print(f"  left in spools: {result.left_in_spool}; errors: {len(result.errors)}")
    print(f"  audit: {audit_result.summary()}")
    print(f"  {'OK' if result.ok else 'FAILED'}")


def _run_on(database_url: str, folder: Path, args: argparse.Namespace) -> tuple[CrashResult, float]:
    migrate(database_url)
    token = create_token(database_url)
    began = time.perf_counter()
    with VigilServer(database_url, folder / "data") as server:
        result = run_crash(
            server,
            token,
            folder / "spool",
            kills=args.kills,
            dispatchers=args.dispatchers,
            measurements=args.measurements,
            seed=args.seed,
        )
    return result, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    """Run the crash test on each database and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=None, help="50; 5 with --quick")
    parser.add_argument("--dispatchers", type=int, default=4)
    parser.add_argument("--measurements", type=int, default=300, help="measurements per job")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="5 kills")
    args = parser.parse_args(argv)
    if args.kills is None:
        args.kills = 5 if args.quick else 50
    print(
        f"Crash: vigil serve killed (SIGKILL) {args.kills} times while {args.dispatchers}"
        f" dispatchers send jobs of {args.measurements} measurements"
    )
    results: dict[str, CrashResult] = {}
    for name in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix=f"vigil-crash-{name}-") as tmp:
            folder = Path(tmp)
            if name == "sqlite":
                result, seconds = _run_on(f"sqlite:///{folder / 'vigil.sqlite3'}", folder, args)
            elif name == "postgresql":
                try:
                    with fresh_postgres("vigil_crash") as url:
                        result, seconds = _run_on(url, folder, args)
                except RuntimeError as exc:
                    print(f"\npostgresql: skipped ({exc})")
                    continue
            else:
                parser.error(f"unknown database {name!r}")
        results[name] = result
        _report(name, result, seconds)
    print("\nFigures")
    for name, result in results.items():
        assert result.audit is not None
        print(
            f"  {name:10s} after {result.kills} kills: lost {len(result.audit.lost)},"
            f" duplicated {len(result.audit.duplicated)}, partial {len(result.audit.partial)}"
            f" of {len(result.sent)} jobs"
        )
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
