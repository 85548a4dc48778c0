"""One place that wires stores and services, for handlers, the CLI, workers and tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings
from .database import create_database_engine
from .services import (
    ArtifactService,
    AuthService,
    DatasetService,
    JobService,
    MetricService,
    SeriesService,
    UserService,
)
from .services._ingest_cache import IngestCache
from .storage import ArtifactContentStore

if TYPE_CHECKING:
    from .services.squash import SquashService

__all__ = ["Factory", "ProcessContext"]


@dataclass(slots=True)
class ProcessContext:
    """What lives as long as the process: settings, engine, artifact store."""

    settings: Settings
    engine: Engine
    session_maker: sessionmaker[Session]
    artifact_content: ArtifactContentStore
    ingest_cache: IngestCache = field(default_factory=IngestCache)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessContext:
        """Open the database engine and artifact store of *settings*."""
        engine = create_database_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_maker=sessionmaker(engine, expire_on_commit=False),
            artifact_content=ArtifactContentStore(settings.effective_artifact_url),
        )

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


class Factory:
    """Creates the services of one unit of work (a request, a command) on one session.

    Parameters
    ----------
    context
        The process-wide context.
    session
        The session the services share; the caller closes it.
    """

    def __init__(self, context: ProcessContext, session: Session) -> None:
        self._context = context
        self.session = session

    @classmethod
    @contextmanager
    def standalone(cls, settings: Settings) -> Iterator[Factory]:
        """A factory with its own process context, for the CLI and scripts."""
        context = ProcessContext.from_settings(settings)
        try:
            with context.session_maker() as session:
                yield cls(context, session)
        finally:
            context.close()

    @property
    def settings(self) -> Settings:
        """The server settings."""
        return self._context.settings

    def create_job_service(self) -> JobService:
        """Ingest and read jobs."""
        return JobService(self.session, self._context.settings, self._context.ingest_cache)

    def create_auth_service(self) -> AuthService:
        """Authenticate API tokens."""
        return AuthService(self.session)

    def create_user_service(self) -> UserService:
        """Administer users and tokens."""
        return UserService(self.session)

    def create_metric_service(self) -> MetricService:
        """Read and load metric and specification definitions."""
        return MetricService(self.session)

    def create_series_service(self) -> SeriesService:
        """Read series."""
        return SeriesService(self.session)

    def create_dataset_service(self) -> DatasetService:
        """Read datasets."""
        return DatasetService(self.session)

    def create_squash_service(self) -> SquashService:
        """The SQuaSH-compatible surface's service."""
        from .services.squash import SquashService

        return SquashService(
            self.session,
            self._context.settings,
            self.create_job_service(),
            self.create_auth_service(),
        )

    def create_artifact_service(self) -> ArtifactService:
        """Store and serve artifacts."""
        return ArtifactService(self.session, self._context.settings, self._context.artifact_content)
