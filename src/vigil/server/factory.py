"""One place that wires stores and services, for handlers, the CLI, workers and tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vigil.explorer.mount import ExplorerServer

from ._activity import RequestActivity
from .config import Settings
from .database import create_database_engine
from .domain.analysis_settings import AnalysisSettings
from .services import (
    ArtifactService,
    AuthService,
    DatasetService,
    JobService,
    MetricService,
    SeriesService,
    UserService,
)
from .services._dashboard_cache import DashboardCache, PackageFingerprints
from .services._group_commit import GroupCommit
from .services._ingest_cache import IngestCache
from .services._job_facts import JobFactsCache
from .services._log_pruning import PruneSchedule
from .services.jobs import QueuedJob
from .services.live import LiveFeed
from .services.sasquatch import SasquatchTopics
from .storage import (
    ArtifactContentStore,
    ArtifactStore,
    DatasetStore,
    JobStore,
    MetricStore,
    SeriesStore,
    SpecificationStore,
    TokenStore,
    UserStore,
)
from .storage.analysis_queue import AnalysisQueueStore
from .storage.audit import AuditStore
from .storage.regressions import RegressionStore
from .storage.subscriptions import OutboxStore, SubscriptionStore
from .storage.users import SessionStore

if TYPE_CHECKING:
    from .monitor.services import MonitorEventService, MonitorService
    from .services.audit import AuditService
    from .services.compare import CompareService
    from .services.dashboard import DashboardService
    from .services.deletion import DeletionService
    from .services.failure_notices import FailureNoticeService
    from .services.gate import GateService
    from .services.health import HealthService
    from .services.logs import LogService, Publisher
    from .services.metric_overlay import OverlayService
    from .services.notifications import NotificationService
    from .services.outbox import OutboxService, Sender
    from .services.regressions import RegressionService
    from .services.sasquatch import SasquatchService
    from .services.squash import SquashService
    from .services.subscriptions import SubscriptionService
    from .services.worker import WorkerService

__all__ = ["Factory", "ProcessContext"]


@dataclass(slots=True)
class ProcessContext:
    """What lives as long as the process: settings, engine, artifact store, caches, the
    live feed, the log pruning schedule and the explorer's server (see `create_app`'s
    lifespan)."""

    settings: Settings
    engine: Engine
    session_maker: sessionmaker[Session]
    artifact_content: ArtifactContentStore
    ingest_cache: IngestCache = field(default_factory=IngestCache)
    #: The group commit of ``POST /api/jobs``: concurrent jobs written in one transaction.
    ingest_group: GroupCommit[QueuedJob] = field(default_factory=GroupCommit)
    #: The facts of the jobs behind the series points read so far.
    job_facts: JobFactsCache = field(default_factory=JobFactsCache)
    #: The requests in flight: the background thread gives way to them.
    activity: RequestActivity = field(default_factory=RequestActivity)
    package_fingerprints: PackageFingerprints = field(default_factory=PackageFingerprints)
    dashboard_cache: DashboardCache = field(default_factory=DashboardCache)
    #: The Kafka topics created through the Sasquatch surface on this process.
    sasquatch_topics: SasquatchTopics = field(default_factory=SasquatchTopics)
    #: Per-metric analysis settings, read once from ``VIGIL_ANALYSIS_SETTINGS_FILE``.
    analysis_settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    #: This process's reader of the live events, and its streaming clients' broker.
    live_feed: LiveFeed = field(init=False)
    #: When this process last pruned the old log runs (``VIGIL_LOG_RETENTION_DAYS``).
    log_pruning: PruneSchedule = field(default_factory=PruneSchedule)
    #: The explorer's Bokeh server behind ``/explore`` (started on first use).
    explorer_server: ExplorerServer = field(init=False)

    def __post_init__(self) -> None:
        history = self.settings.live_history
        self.live_feed = LiveFeed(
            self.session_maker, history=history, queue_size=max(1000, history // 2)
        )
        self.explorer_server = ExplorerServer(self.settings.explore_roots)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessContext:
        """Read the analysis settings file and open the database engine and artifact
        store of *settings*.

        Raises
        ------
        AnalysisSettingsError
            The analysis settings file is unreadable or wrong (nothing is opened).
        """
        from .services.analysis_settings import load_analysis_settings

        analysis = load_analysis_settings(settings.analysis_settings_file)
        engine = create_database_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            session_maker=sessionmaker(engine, expire_on_commit=False),
            artifact_content=ArtifactContentStore(settings.effective_artifact_url),
            analysis_settings=analysis,
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

        return JobService(
            self.session,
            self._context.settings,
            self._context.ingest_cache,
            self._context.ingest_group,
            jobs=JobStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
            series=SeriesStore(self.session),
            audit=AuditStore(self.session),
            queue=AnalysisQueueStore(self.session),
        )

    def create_auth_service(self) -> AuthService:
        """Authenticate API tokens and web sessions."""
        return AuthService(
            self.session,
            self._context.settings,
            tokens=TokenStore(self.session),
            sessions=SessionStore(self.session),
        )

    def create_user_service(self) -> UserService:
        """Administer users, roles and tokens."""

        return UserService(
            self.session,
            self._context.settings,
            users=UserStore(self.session),
            tokens=TokenStore(self.session),
            audit=AuditStore(self.session),
        )

    def create_deletion_service(self) -> DeletionService:
        """Delete jobs and metrics (recorded in the audit log)."""
        from .services.deletion import DeletionService
        from .storage.deletion import DeletionStore

        return DeletionService(
            self.session,
            self._context.settings,
            self._context.artifact_content,
            self._context.ingest_cache,
            store=DeletionStore(self.session),
            artifacts=ArtifactStore(self.session),
            regressions=RegressionStore(self.session),
            queue=AnalysisQueueStore(self.session),
            audit=AuditStore(self.session),
        )

    def create_audit_service(self) -> AuditService:
        """Read the audit log."""
        from .services.audit import AuditService

        return AuditService(self.session, store=AuditStore(self.session))

    def create_metric_service(self) -> MetricService:
        """Read and load metric and specification definitions."""
        return MetricService(
            self.session, metrics=MetricStore(self.session), specs=SpecificationStore(self.session)
        )

    def create_series_service(self) -> SeriesService:
        """Read series."""
        return SeriesService(
            self.session,
            self._context.job_facts,
            series=SeriesStore(self.session),
            metrics=MetricStore(self.session),
            audit=AuditStore(self.session),
        )

    def create_dataset_service(self) -> DatasetService:
        """Read datasets."""
        return DatasetService(self.session, datasets=DatasetStore(self.session))

    def create_squash_service(self) -> SquashService:
        """The SQuaSH-compatible surface's service."""
        from .services.squash import SquashService
        from .storage.squash import SquashStore

        return SquashService(
            self.session,
            self._context.settings,
            self.create_job_service(),
            self.create_auth_service(),
            store=SquashStore(self.session),
            jobs=JobStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
        )

    def create_sasquatch_service(self) -> SasquatchService:
        """The Sasquatch (Kafka REST proxy) surface's service."""
        from .services.sasquatch import SasquatchService

        return SasquatchService(
            self.session,
            self.create_job_service(),
            self.create_auth_service(),
            self._context.sasquatch_topics,
            metrics=MetricStore(self.session),
        )

    def create_artifact_service(self) -> ArtifactService:
        """Store and serve artifacts."""
        return ArtifactService(
            self.session,
            self._context.settings,
            self._context.artifact_content,
            artifacts=ArtifactStore(self.session),
            jobs=JobStore(self.session),
        )

    def create_health_service(self) -> HealthService:
        """The readiness check (database and artifact store)."""
        from .services.health import HealthService

        return HealthService(self._context.engine, self._context.artifact_content)

    def create_compare_service(self) -> CompareService:
        """Put one job beside another (the compare page)."""
        from .services.compare import CompareService
        from .storage.compare import CompareStore

        return CompareService(
            self.session,
            self._context.settings,
            self.create_job_service(),
            store=CompareStore(self.session),
            job_store=JobStore(self.session),
            metrics=MetricStore(self.session),
            artifacts=ArtifactStore(self.session),
        )

    def create_regression_service(self) -> RegressionService:
        """Detect, read and triage regressions."""
        from .services.regressions import RegressionService

        return RegressionService(
            self.session,
            self._context.settings,
            store=RegressionStore(self.session),
            queue=AnalysisQueueStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
            series=SeriesStore(self.session),
            analysis=self._context.analysis_settings,
        )

    def create_subscription_service(self) -> SubscriptionService:
        """Manage users' subscriptions to regressions."""
        from .services.subscriptions import SubscriptionService

        return SubscriptionService(
            self.session,
            self._context.settings,
            store=SubscriptionStore(self.session),
            outbox=OutboxStore(self.session),
        )

    def create_notification_service(self) -> NotificationService:
        """Queue the digests of new regressions in the outbox."""
        from .services.notifications import NotificationService

        return NotificationService(
            self.session,
            self._context.settings,
            self.create_regression_service(),
            store=RegressionStore(self.session),
            queue=AnalysisQueueStore(self.session),
            outbox=OutboxStore(self.session),
            subscriptions=SubscriptionStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
        )

    def create_outbox_service(self, senders: dict[str, Sender] | None = None) -> OutboxService:
        """Deliver the outbox (email, webhooks)."""
        from .services.outbox import OutboxService

        return OutboxService(
            self.session,
            self._context.settings,
            senders,
            store=OutboxStore(self.session),
            subscriptions=SubscriptionStore(self.session),
        )

    def create_worker_service(self, senders: dict[str, Sender] | None = None) -> WorkerService:
        """One pass of background work: analysis queue, announcements, outbox."""
        from .services.worker import WorkerService

        return WorkerService(
            self.create_regression_service(),
            self.create_notification_service(),
            self.create_outbox_service(senders),
            self.create_failure_notice_service(),
        )

    def create_failure_notice_service(self) -> FailureNoticeService:
        """Queue the notices of failed processings, silent runners and failed CI jobs."""
        from .monitor.storage import PipelineStore
        from .services.failure_notices import FailureNoticeService
        from .storage.event_sources import EventSourceStore
        from .storage.subscriptions import FailureStore

        return FailureNoticeService(
            self.session,
            self._context.settings,
            outbox=OutboxStore(self.session),
            subscriptions=SubscriptionStore(self.session),
            failures=FailureStore(self.session),
            regressions=RegressionStore(self.session),
            cursors=EventSourceStore(self.session),
            pipelines=PipelineStore(self.session),
        )

    def create_dashboard_service(self) -> DashboardService:
        """The web dashboard's reads."""
        from .services.dashboard import DashboardService
        from .storage.dashboard import DashboardStore

        return DashboardService(
            self.session,
            self._context.settings,
            self.create_job_service(),
            self.create_series_service(),
            self.create_artifact_service(),
            store=DashboardStore(self.session),
            job_store=JobStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
            series_store=SeriesStore(self.session),
            regressions=RegressionStore(self.session),
            fingerprints=self._context.package_fingerprints,
            cache=self._context.dashboard_cache,
            analysis=self._context.analysis_settings,
        )

    def create_overlay_service(self) -> OverlayService:
        """The reads of the overlay page: several series of a metric on one plot."""
        from .services.metric_overlay import OverlayService
        from .storage.dashboard import DashboardStore

        return OverlayService(
            self.session,
            self._context.settings.default_branch,
            self.create_series_service(),
            metrics=MetricStore(self.session),
            store=DashboardStore(self.session),
        )

    def create_gate_service(self) -> GateService:
        """The gate of ``vigil check``: a job against its baseline."""
        from .services.gate import GateService

        return GateService(
            self.session,
            self._context.settings,
            self._context.analysis_settings,
            jobs=JobStore(self.session),
            series=SeriesStore(self.session),
            metrics=MetricStore(self.session),
            specs=SpecificationStore(self.session),
            regressions=RegressionStore(self.session),
        )

    def create_monitor_service(self) -> MonitorService:
        """The live monitor's control, queue and pages (changes announced live)."""
        from .monitor.services import MonitorService
        from .monitor.storage import PipelineStore, ProcessingStore
        from .storage.live import LiveEventStore
        from .storage.logs import LogStore

        return MonitorService(
            self.session,
            PipelineStore(self.session),
            ProcessingStore(self.session),
            LiveEventStore(self.session),
            self._context.live_feed,
            settings=self._context.settings,
            logs=LogStore(self.session),
            audit=AuditStore(self.session),
        )

    def create_monitor_event_service(self) -> MonitorEventService:
        """The live monitor's ingest of runners' events (changes announced live)."""
        from .monitor.services import MonitorEventService
        from .monitor.storage import PipelineStore, ProcessingStore
        from .storage.event_sources import EventSourceStore
        from .storage.live import LiveEventStore

        return MonitorEventService(
            self.session,
            self._context.settings,
            PipelineStore(self.session),
            ProcessingStore(self.session),
            EventSourceStore(self.session),
            LiveEventStore(self.session),
            self.create_log_service(),
            self._context.live_feed,
            self.create_job_service(),
            failures=self.create_failure_notice_service(),
        )

    def create_log_service(self, publish: Publisher | None = None) -> LogService:
        """Aggregated logs; *publish* sends new lines to live tails."""
        from .services.logs import LogService
        from .storage.event_sources import EventSourceStore
        from .storage.live import LiveEventStore
        from .storage.logs import LogStore

        return LogService(
            self.session,
            self.settings,
            publish,
            store=LogStore(self.session),
            sources=EventSourceStore(self.session),
            live=LiveEventStore(self.session),
            pruning=self._context.log_pruning,
        )
