"""What ``bench/load.py`` and ``bench/crash.py`` share, and ``tests/reliability`` reuses.

- `VigilServer`: a real ``vigil serve`` process on 127.0.0.1, started, killed with
  SIGKILL and started again on the same port and database;
- `fresh_postgres`: a new PostgreSQL database for one run, dropped afterwards;
- `make_job`: a generated lsst.verify Job with its own identifier;
- `audit`: what the database holds for the jobs that were sent: lost, duplicated and
  partial jobs, read with SQL straight from the tables.

Everything runs on this machine (127.0.0.1) and stops by itself.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "POSTGRES_ADMIN_URL",
    "Audit",
    "ExpectedJob",
    "VigilServer",
    "audit",
    "create_token",
    "expected",
    "free_port",
    "fresh_postgres",
    "make_job",
    "migrate",
]

POSTGRES_ADMIN_URL = os.environ.get(
    "VIGIL_BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
"""Where ``fresh_postgres`` creates and drops its databases."""

_METRICS = (
    ("validate_drp.PA1", "mmag", 12.0),
    ("validate_drp.AM1", "marcsec", 7.8),
    ("validate_drp.TE1", "", 1.2e-5),
    ("pipe_analysis.nStars", "ct", 4200.0),
    ("pipe_analysis.psfMagDiff_median", "mmag", 1.5),
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_job(name: str, index: int, measurements: int = 20, *, seed: int = 0) -> dict[str, Any]:
    """A job of *measurements* values (a few NaN), one blob, three packages.

    The identifier ``<name>-<index>`` is the idempotency key, as ``vigil dispatch`` sets
    one; the same arguments always give the same job.
    """
    rng = random.Random(f"{seed}-{name}-{index}")
    blob_id = uuid.UUID(int=rng.getrandbits(128)).hex
    rows = []
    for i in range(measurements):
        metric, unit, typical = _METRICS[i % len(_METRICS)]
        value = math.nan if rng.random() < 0.02 else rng.gauss(typical, abs(typical) * 0.1)
        rows.append(
            {
                "metric": metric,
                "identifier": uuid.UUID(int=rng.getrandbits(128)).hex,
                "value": value,
                "unit": unit,
                "data_id": {"tract": 9813, "patch": i // len(_METRICS), "band": "i"},
                "blob_refs": [blob_id] if i == 0 else [],
            }
        )
    commit = f"{rng.getrandbits(160):040x}"
    return {
        "identifier": f"{name}-{index}",
        "measurements": rows,
        "blobs": [
            {
                "identifier": blob_id,
                "name": "PA1_histogram",
                "data": {"mag": {"value": [rng.random() for _ in range(32)], "unit": "mag"}},
            }
        ],
        "metrics": [
            {"name": m, "unit": u, "description": f"{m} of the bench.", "tags": [], "reference": {}}
            for m, u, _ in _METRICS
        ],
        "specs": [],
        "meta": {
            "env": {
                "env_name": "jenkins",
                "ci_id": str(index),
                "ci_dataset": "validation_data_hsc",
                "git_branch": "main",
                "git_commit": commit,
            },
            "instrument": "HSC",
            "packages": {
                p: {"name": p, "git_sha": commit, "eups_version": "w.2026.47"}
                for p in ("afw", "pipe_tasks", "validate_drp")
            },
        },
    }


@dataclass(frozen=True, slots=True)
class ExpectedJob:
    """What a whole job leaves in the database."""

    measurements: int
    blobs: int
    packages: int


def expected(job: Mapping[str, Any]) -> ExpectedJob:
    """The rows a stored *job* must have."""
    return ExpectedJob(
        measurements=len(job["measurements"]),
        blobs=len(job.get("blobs") or []),
        packages=len((job.get("meta") or {}).get("packages") or {}),
    )


@dataclass(slots=True)
class Audit:
    """The jobs found in a database, compared with the jobs that were sent."""

    sent: int
    stored: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    measurements: int = 0
    orphan_measurements: int = 0

    @property
    def ok(self) -> bool:
        """Every job sent is stored once and whole, and nothing else is."""
        return not (
            self.lost
            or self.duplicated
            or self.partial
            or self.unexpected
            or self.orphan_measurements
        )

    def summary(self) -> str:
        """One line: counts, and the first few identifiers of each problem."""

        def few(items: list[str]) -> str:
            return f"{len(items)}" + (f" ({', '.join(items[:3])}...)" if items else "")

        return (
            f"sent {self.sent}, stored {self.stored}, lost {few(self.lost)}, duplicated"
            f" {few(self.duplicated)}, partial {few(self.partial)}, unexpected"
            f" {few(self.unexpected)}, measurements {self.measurements}, orphan"
            f" measurements {self.orphan_measurements}"
        )


def audit(database_url: str, sent: Mapping[str, ExpectedJob]) -> Audit:
    """Compare what *database_url* holds with the jobs *sent* (identifier → rows).

    A job is partial when any of its measurements, blobs or packages is missing or
    doubled; duplicated when its identifier is on more than one row.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT j.identifier,"
                    " (SELECT count(*) FROM measurements m WHERE m.job_id = j.id),"
                    " (SELECT count(*) FROM blobs b WHERE b.job_id = j.id),"
                    " (SELECT count(*) FROM job_packages p WHERE p.job_id = j.id)"
                    " FROM jobs j"
                )
            ).all()
            total = connection.execute(text("SELECT count(*) FROM measurements")).scalar_one()
            orphans = connection.execute(
                text(
                    "SELECT count(*) FROM measurements m"
                    " WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = m.job_id)"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    result = Audit(sent=len(sent), stored=len(rows), measurements=int(total))
    result.orphan_measurements = int(orphans)
    seen: dict[str, int] = {}
    for identifier, measurements, blobs, packages in rows:
        seen[identifier] = seen.get(identifier, 0) + 1
        want = sent.get(identifier)
        if want is None:
            result.unexpected.append(identifier)
        elif (measurements, blobs, packages) != (want.measurements, want.blobs, want.packages):
            result.partial.append(identifier)
    result.duplicated = sorted(i for i, n in seen.items() if n > 1)
    result.lost = sorted(i for i in sent if i not in seen)
    return result


def _sqlalchemy_url(url: str) -> Any:
    from sqlalchemy import make_url

    return make_url(url)


def migrate(database_url: str) -> None:
    """Bring *database_url* to the current schema (what ``vigil db upgrade`` does)."""
    from vigil.server.config import Settings
    from vigil.server.database import create_database_engine
    from vigil.server.migration import upgrade

    engine = create_database_engine(Settings(), _sqlalchemy_url(database_url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def create_token(database_url: str, user: str = "bench") -> str:
    """Create *user* on *database_url* and return a new API token of theirs."""
    from vigil.server.config import Settings
    from vigil.server.factory import Factory

    with Factory.standalone(Settings(database_url=database_url)) as factory:
        service = factory.create_user_service()
        service.create_user(user)
        return service.create_token(user).text


@contextlib.contextmanager
def fresh_postgres(prefix: str = "vigil_reliability") -> Iterator[str]:
    """A new, empty PostgreSQL database for one run; dropped on exit.

    Raises
    ------
    RuntimeError
        PostgreSQL is not reachable at `POSTGRES_ADMIN_URL`.
    """
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise RuntimeError(f"PostgreSQL is not available at {POSTGRES_ADMIN_URL}: {exc}") from exc
    url = _sqlalchemy_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class VigilServer:
    """``vigil serve`` on 127.0.0.1 in a process group of its own.

    Parameters
    ----------
    database_url
        The database (migrated already).
    data_dir
        ``VIGIL_DATA_DIR`` of the server (artifacts); its log goes to ``server.log`` there.
    port
        The port; default a free one. It stays the same across restarts.
    """

    def __init__(self, database_url: str, data_dir: Path, port: int | None = None) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log = data_dir / "server.log"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers.

        Raises
        ------
        RuntimeError
            It exited or did not answer within *timeout* seconds; the message ends
            with its log.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(self.data_dir),
            "VIGIL_DATABASE_URL": self.database_url,
        }
        command = [sys.executable, "-m", "vigil", "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"vigil serve exited at start-up:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"vigil serve did not answer within {timeout:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the server's whole process group, as a crash or an OOM killer would."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(30)
        self._process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
        self._process = None

    def tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> VigilServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
