"""Load the demo history into a tracking server's database, in process.

The jobs go through the same `JobService.ingest` as ``POST /api/jobs`` and the artifacts
through `ArtifactService.upload`, so the demo exercises the real ingest path. Job
identifiers are fixed by ``(seed, start)``: loading again skips what is stored and only
fills what is missing (a job, or the artifacts of an interrupted run).

Needs the server extra (``pip install 'vigil[server]'``).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.demo import _scenario as sc
from vigil.demo.artifacts import generate_artifacts
from vigil.demo.history import DemoHistory
from vigil.server import migration
from vigil.server.config import Settings
from vigil.server.database import create_database_engine
from vigil.server.domain import User
from vigil.server.exceptions import AuthenticationError, JobNotFoundError
from vigil.server.factory import Factory

__all__ = [
    "DEMO_USER",
    "TOKEN_FILE",
    "DemoLoadReport",
    "demo_settings",
    "load_history",
    "prepare_database",
]

DEMO_USER = "demo"
TOKEN_FILE = "demo-token"  # noqa: S105 (a file name, not a secret)
"""File in the demo folder keeping the demo user's token, so a re-run can print it again."""

Progress = Callable[[str], None]
"""Called once per run of the history with what happened: ``created`` or ``existing``."""


@dataclass(slots=True)
class DemoLoadReport:
    """What loading the demo did."""

    jobs: int
    created: int
    existing: int
    artifacts: int
    user: str
    token: str
    token_created: bool
    seconds: float


def demo_settings(directory: str | Path) -> Settings:
    """Server settings keeping everything in *directory*: SQLite file and artifacts.

    Explicit values override any ``VIGIL_DATABASE_URL`` / ``VIGIL_ARTIFACT_URL`` of the
    environment: the demo never writes to another database.
    """
    folder = Path(directory).expanduser().resolve()
    return Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'vigil.sqlite3'}",
        artifact_url=str(folder / "artifacts"),
    )


def prepare_database(settings: Settings) -> tuple[str | None, str]:
    """Create or migrate the database of *settings*; return the revisions before and after."""
    engine = create_database_engine(settings)
    try:
        before = migration.current_revision(engine)
        migration.upgrade(engine)
        after = migration.current_revision(engine)
    finally:
        engine.dispose()
    return before, after or ""


def _demo_user(factory: Factory) -> User:
    users = factory.create_user_service()
    for user in users.list_users():
        if user.name == DEMO_USER:
            return user
    from vigil.server.domain import Role

    # The demo's visitor logs in with this user's token to triage and run pipelines.
    roles = {Role.SUBMITTER, Role.TRIAGER, Role.OPERATOR}
    return users.create_user(DEMO_USER, "demo@example.org", roles=roles)


def _demo_token(factory: Factory, folder: Path) -> tuple[str, bool]:
    """The token kept in *folder* if it still works, else a new one (then kept)."""
    path = folder / TOKEN_FILE
    if path.is_file():
        text = path.read_text().strip()
        try:
            user = factory.create_auth_service().authenticate(text)
        except AuthenticationError:
            user = None
        if user is not None and user.name == DEMO_USER:
            return text, False
    token = factory.create_user_service().create_token(DEMO_USER, "demo").text
    # The token file is a secret: readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    return token, True


def load_history(
    settings: Settings, history: DemoHistory, *, progress: Progress | None = None
) -> DemoLoadReport:
    """Store every job of *history* (and its artifacts) that the database lacks.

    The database must be at the current schema (see `prepare_database`). Creates the
    ``demo`` user, and a token kept in ``<data_dir>/demo-token``.
    """
    began = time.perf_counter()
    created = existing = artifacts = 0
    with Factory.standalone(settings) as factory:
        user = _demo_user(factory)
        jobs = factory.create_job_service()
        files = factory.create_artifact_service()
        for run in history.runs:
            try:
                job_id = jobs.get_by_identifier(run.identifier).id
                stored = True
            except JobNotFoundError:
                stored = False
            payload = None
            if not stored:
                payload = history.build_job(run).to_dict()
                result = jobs.ingest(payload, user)
                job_id = result.id
                stored = not result.created
            if run.pipeline == "deblend":
                present = {a.name for a in files.list_artifacts(job_id)} if stored else set()
                # Every blend has an image; fewer means an earlier load was interrupted.
                if len(present) < len(sc.BLENDS):
                    payload = payload or history.build_job(run).to_dict()
                    for name, content, content_type in generate_artifacts(payload):
                        if name not in present:
                            files.upload(job_id, name, io.BytesIO(content), content_type)
                            artifacts += 1
            if stored:
                existing += 1
            else:
                created += 1
            if progress is not None:
                progress("existing" if stored else "created")
        token, token_created = _demo_token(factory, Path(settings.data_dir))
    return DemoLoadReport(
        jobs=len(history.runs),
        created=created,
        existing=existing,
        artifacts=artifacts,
        user=user.name,
        token=token,
        token_created=token_created,
        seconds=time.perf_counter() - began,
    )
