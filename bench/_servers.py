"""Server processes of the benches: start, wait until ready, measure, stop; clients
sending to them from several threads; fresh PostgreSQL databases; latency figures.

Every server runs in a session (process group) of its own, so that stopping it ends
its worker processes too, and nothing else.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = [
    "POSTGRES",
    "ServerProcess",
    "analyze_if_no_autovacuum",
    "free_port",
    "median_ms",
    "p95_ms",
    "postgres_admin",
    "postgres_database",
    "run_command",
    "send_from_threads",
    "vigil_command",
]

POSTGRES: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
"""The PostgreSQL server the benches use (trust authentication)."""

T = TypeVar("T")
R = TypeVar("R")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_from_threads(
    items: Sequence[T],
    send: Callable[[httpx.Client, T], R],
    concurrency: int,
    **client: Any,
) -> tuple[list[R], float, float]:
    """Call *send* for each item from *concurrency* threads, each with a kept-alive client.

    Returns the answers in order, the wall seconds and this process's CPU seconds. On an
    error the items not yet sent are dropped. *client* goes to each `httpx.Client`.
    """
    local = threading.local()
    clients: list[httpx.Client] = []

    def one(item: T) -> R:
        session = getattr(local, "client", None)
        if session is None:
            session = local.client = httpx.Client(**client)
            clients.append(session)
        return send(session, item)

    cpu = time.process_time()
    began = time.perf_counter()
    pool = ThreadPoolExecutor(concurrency)
    try:
        answers = list(pool.map(one, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for session in clients:
            session.close()
    return answers, time.perf_counter() - began, time.process_time() - cpu


class ServerProcess:
    """A server started from *command*, its output going to *log*.

    Parameters
    ----------
    name
        What to call it in messages.
    command
        The command line.
    ready_url
        A URL that answers 200 once the server is ready.
    log
        File that receives the server's output.
    env
        Environment of the process.
    cwd
        Working folder of the process.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        ready_url: str,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.ready_url = ready_url
        self.log = log
        with log.open("wb") as stream:
            self._process = subprocess.Popen(
                list(command),
                stdout=stream,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The process id (also the id of its process group)."""
        return self._process.pid

    def wait_ready(self, timeout: float) -> None:
        """Wait until ``ready_url`` answers 200.

        Raises
        ------
        RuntimeError
            The server exited or did not answer in time; the message ends with its log.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self._tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f} s:\n{self._tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's process group."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            # After the command name: state ppid pgrp session ... utime(12) stime(13).
            if int(fields[2]) == self.pid:
                total += int(fields[11]) + int(fields[12])
        return total / _CLOCK_TICKS

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and its workers: SIGTERM, then SIGKILL after *grace* seconds."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(grace)
        # Workers may outlive their parent: end whatever is left of the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def vigil_command() -> list[str]:
    """The ``vigil`` command of this environment."""
    executable = Path(sys.executable).with_name("vigil")
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "vigil"]


def median_ms(values: Sequence[float]) -> float:
    """The median of *values* (seconds), in milliseconds."""
    return statistics.median(values) * 1000


def p95_ms(values: Sequence[float]) -> float:
    """The 95th percentile of *values* (seconds, nearest rank), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000


def postgres_admin() -> Any | None:
    """An autocommit connection to the ``postgres`` database on 127.0.0.1:5432; None,
    said on stdout, when PostgreSQL (or psycopg) is unavailable."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **POSTGRES)
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: cannot connect to 127.0.0.1:5432 as postgres ({exc}).")
        return None


@contextlib.contextmanager
def postgres_database(prefix: str = "vigil_bench") -> Iterator[str | None]:
    """A fresh database on 127.0.0.1:5432, dropped afterwards; None if unavailable."""
    admin = postgres_admin()
    if admin is None:
        yield None
        return
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def analyze_if_no_autovacuum(database_url: str) -> str | None:
    """Run VACUUM ANALYZE when the server's autovacuum is off, as autovacuum would have.

    Without it the planner has no statistics on the freshly loaded tables. Returns the
    note to print, or None when autovacuum is on.
    """
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(dbname=name, autocommit=True, connect_timeout=5, **POSTGRES) as db:
        if db.execute("SHOW autovacuum").fetchone() != ("off",):
            return None
        began = time.perf_counter()
        db.execute("VACUUM ANALYZE")
        return (
            f"autovacuum is off on this PostgreSQL: VACUUM ANALYZE run after the load"
            f" ({time.perf_counter() - began:.0f} s), as autovacuum would"
        )


def run_command(
    command: Sequence[str], *, timeout: float, stderr: bool = False, **kwargs: Any
) -> str:
    """Run a command to completion: its stdout (and its stderr if asked), or an error with
    its output."""
    done = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        **kwargs,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command[:3]))}... exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done.stdout + (done.stderr if stderr else "")
