"""The live monitor's pipelines, queue and pages: what runners are told and what the pages
read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ...config import Settings
from ...domain import User
from ...domain.audit import Actor
from ...exceptions import ConflictError, InvalidRequestError, NotFoundError
from ...services.live import Publisher
from ...storage.audit import AuditStore
from ...storage.live import LiveEventStore
from ...storage.logs import LogStore
from ..domain import (
    EXPOSURE_SORT_TYPES,
    EXPOSURE_SORTS,
    HISTORY_SORT_TYPES,
    HISTORY_SORTS,
    Alert,
    ClearPlan,
    Comment,
    ConditionPoint,
    CountedPage,
    ExposureRecord,
    ExposureSeen,
    HistoryFilter,
    Keyset,
    PipelineInfo,
    ProcessingCleared,
    ProcessingDetail,
    ProcessingSummary,
    TrendPoint,
    TrendSeries,
)
from ..storage import PipelineStore, ProcessingStore
from ._clearing import reduction_folders, remove_folders
from ._cursors import decode_cursor, encode_cursor
from ._focal_plane import build_focal_plane, pipeline_layout
from ._live import pipeline_event

__all__ = ["MonitorService", "ProcessingNotFoundError"]

_STATES = ("running", "stopped")


class ProcessingNotFoundError(NotFoundError):
    """No processing has the id asked for."""

    code = "processing_not_found"


class MonitorService:
    """Decisions of the live monitor's control, queue and pages; owns the transaction of
    each call.

    Parameters
    ----------
    session
        The database session.
    pipelines
        The pipelines and exposures.
    processings
        The processings, their units, steps, QA values and comments.
    live
        Where the live events are written.
    publish
        Woken once live events are committed (None: no live events).
    settings
        The server's settings (the reduction folders a clear may delete).
    logs
        The aggregated logs (a clear deletes a processing's log run).
    audit
        Where a clear is recorded.
    """

    def __init__(
        self,
        session: Session,
        pipelines: PipelineStore,
        processings: ProcessingStore,
        live: LiveEventStore,
        publish: Publisher | None = None,
        *,
        settings: Settings,
        logs: LogStore,
        audit: AuditStore,
    ) -> None:
        self._session = session
        self._pipelines = pipelines
        self._processings = processings
        self._live = live
        self._publish = publish
        self._settings = settings
        self._logs = logs
        self._audit = audit

    # Control and queue ----------------------------------------------------------------

    def pipelines(self) -> list[PipelineInfo]:
        """Every pipeline known."""
        items = self._pipelines.list_pipelines()
        self._session.rollback()
        return items

    def get_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline.

        Raises
        ------
        NotFoundError
            No runner ever announced it and nobody set its state.
        """
        info = self._pipelines.get_pipeline(name)
        self._session.rollback()
        if info is None:
            raise NotFoundError(
                f"No pipeline is named {name!r}; start its runner (`vigil monitor run`) first."
            )
        return info

    def set_state(self, name: str, state: str, user: User) -> PipelineInfo:
        """Ask a pipeline's runner to run or stop (it learns it at its next report).

        Raises
        ------
        InvalidRequestError
            The state is neither ``running`` nor ``stopped``.
        """
        if state not in _STATES:
            raise InvalidRequestError(
                f"A pipeline's state is 'running' or 'stopped', not {state!r}.", field="state"
            )
        now = datetime.now(UTC)
        try:
            self._pipelines.set_desired_state(name, state, user.name, now)
            info = self._pipelines.get_pipeline(name)
            assert info is not None
            if self._publish is not None:
                self._live.append([pipeline_event(info)], now)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if self._publish is not None:
            self._publish.wake()
        return info

    def submit_exposure(self, exposure: ExposureSeen) -> ExposureRecord:
        """Queue an exposure for the pipeline's runner (``exposures.source: api``)."""
        try:
            self._pipelines.announce_pipeline(exposure.pipeline, None, datetime.now(UTC))
            exposure_id = self._pipelines.upsert_exposure(exposure, "queued", datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        record = self._pipelines.get_exposure(exposure_id)
        self._session.rollback()
        assert record is not None
        return record

    def claim(self, pipeline: str, limit: int) -> list[ExposureRecord]:
        """The oldest queued exposures of *pipeline*, each given to one caller only."""
        try:
            items = self._pipelines.claim_exposures(pipeline, limit)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return items

    # Reading --------------------------------------------------------------------------

    def get_processing(self, processing_id: int) -> ProcessingDetail:
        """A processing with its units, steps, QA values and comments.

        Raises
        ------
        ProcessingNotFoundError
            No such processing.
        """
        summary = self._processings.get_summary(processing_id)
        if summary is None:
            self._session.rollback()
            raise ProcessingNotFoundError(
                f"No processing has the id {processing_id}; see /monitor/processings."
            )
        units = self._processings.list_units(processing_id)
        qa = self._processings.list_qa(processing_id)
        pipeline = self._pipelines.get_pipeline(summary.pipeline)
        detail = ProcessingDetail(
            summary=summary,
            steps=self._processings.processing_steps(processing_id),
            units=units,
            qa=qa,
            comments=self._processings.list_comments(processing_id),
            focal_plane=build_focal_plane(
                pipeline_layout(
                    None if pipeline is None else pipeline.description, [u.name for u in units]
                ),
                units,
                qa,
            ),
        )
        self._session.rollback()
        return detail

    def latest(self, pipeline: str | None) -> ProcessingDetail | None:
        """The most recent processing (of *pipeline*), or None."""
        processing_id = self._processings.latest_processing_id(pipeline)
        self._session.rollback()
        return None if processing_id is None else self.get_processing(processing_id)

    def recent(self, pipeline: str | None, limit: int = 10) -> list[ProcessingSummary]:
        """The *limit* most recent processings (of *pipeline*), newest first."""
        items, _, _ = self._processings.list_processings(
            HistoryFilter(pipeline=pipeline), sort="id", descending=True, limit=limit
        )
        self._session.rollback()
        return items

    def alerts(self, pipeline: str | None, limit: int = 20) -> list[Alert]:
        """Recent failed units and QA values out of range."""
        alerts = self._processings.recent_alerts(pipeline, limit)
        self._session.rollback()
        return alerts

    def history(
        self,
        filters: HistoryFilter,
        *,
        sort: str = "id",
        descending: bool = True,
        limit: int,
        cursor: str | None = None,
        offset: int = 0,
    ) -> CountedPage[ProcessingSummary]:
        """One page of the processing history: after *cursor* (the previous page's
        ``next_cursor``), else after *offset* rows.

        Raises
        ------
        InvalidRequestError
            *sort* is not a column of the history, or the cursor is not one given out for
            this sort and order.
        """
        if sort not in HISTORY_SORTS:
            raise InvalidRequestError(
                f"Cannot sort by {sort!r}; choose one of {', '.join(HISTORY_SORTS)}.",
                field="sort",
            )
        key = decode_cursor(cursor, "processings", sort, descending, HISTORY_SORT_TYPES[sort])
        items, total, before = self._processings.list_processings(
            filters, sort=sort, descending=descending, limit=limit + 1, offset=offset, key=key
        )
        self._session.rollback()
        next_cursor = None
        if len(items) > limit:
            last = items[limit - 1]
            next_cursor = encode_cursor(
                "processings", sort, descending, Keyset(getattr(last, sort), last.id)
            )
        return CountedPage(items[:limit], next_cursor, total=total, offset=before)

    def exposures(
        self,
        *,
        pipeline: str | None = None,
        flavor: str | None = None,
        program: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        cursor: str | None = None,
        offset: int = 0,
        sort: str = "id",
        descending: bool = True,
    ) -> CountedPage[ExposureRecord]:
        """One page of the observing history (newest first unless sorted otherwise):
        after *cursor* (the previous page's ``next_cursor``), else after *offset* rows.

        Raises
        ------
        InvalidRequestError
            *sort* is not a column of the observing history, or the cursor is not one
            given out for this listing, sort and order.
        """
        if sort not in EXPOSURE_SORTS:
            raise InvalidRequestError(
                f"Cannot sort by {sort!r}; choose one of {', '.join(EXPOSURE_SORTS)}.",
                field="sort",
            )
        key = decode_cursor(cursor, "exposures", sort, descending, EXPOSURE_SORT_TYPES[sort])
        items, total, before = self._pipelines.list_exposures(
            pipeline=pipeline,
            flavor=flavor,
            program=program,
            since=since,
            until=until,
            limit=limit + 1,
            offset=offset,
            key=key,
            sort=sort,
            descending=descending,
        )
        self._session.rollback()
        next_cursor = None
        if len(items) > limit:
            last = items[limit - 1]
            next_cursor = encode_cursor(
                "exposures", sort, descending, Keyset(getattr(last, sort), last.id)
            )
        return CountedPage(items[:limit], next_cursor, total=total, offset=before)

    def choices(self, pipeline: str | None) -> dict[str, list[str]]:
        """Values for the filter menus: flavors, programs and QA keys seen."""
        result = {
            "flavor": self._processings.distinct_values("flavor", pipeline),
            "program": self._processings.distinct_values("program", pipeline),
            "qa_key": self._processings.qa_keys(pipeline),
        }
        self._session.rollback()
        return result

    def trend(
        self,
        *,
        pipeline: str | None,
        key: str,
        units: Sequence[str] | None = None,
        element: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TrendSeries]:
        """A QA key over time: one series per unit (its *element*, or its summary value)."""
        rows = self._processings.trend(
            pipeline=pipeline, key=key, units=units, since=since, until=until
        )
        self._session.rollback()
        series: dict[str, list[TrendPoint]] = defaultdict(list)
        for point, values in rows:
            if element is not None:
                point.value = values[element] if element < len(values) else None
            series[point.unit].append(point)
        return [
            TrendSeries(key=key, unit=unit, element=element, points=points)
            for unit, points in sorted(series.items())
        ]

    def conditions(
        self,
        *,
        pipeline: str | None,
        since: datetime | None = None,
        until: datetime | None = None,
        flavor: str | None = None,
    ) -> list[ConditionPoint]:
        """Observing conditions of the exposures seen, oldest first."""
        points = self._pipelines.conditions(pipeline, since, until, flavor)
        self._session.rollback()
        return points

    # Clearing -------------------------------------------------------------------------

    def _clear_plan(self, processing_id: int) -> ClearPlan:
        summary = self._processings.get_summary(processing_id)
        if summary is None:
            raise ProcessingNotFoundError(
                f"No processing has the id {processing_id}; see /monitor/processings."
            )
        run = None if summary.log_run_id is None else self._logs.get_run(summary.log_run_id)
        outputs = run.meta.get("outputs") if run is not None else None
        folders, note = reduction_folders(
            outputs if isinstance(outputs, dict) else {},
            summary.exposure,
            self._settings.monitor_output_roots,
        )
        return ClearPlan(
            processing_id=processing_id,
            pipeline=summary.pipeline,
            exposure=summary.exposure,
            status=summary.status,
            log_run_id=None if run is None else run.id,
            log_lines=0 if run is None else run.line_count,
            folders=folders,
            files_note=note,
        )

    def clear_plan(self, processing_id: int) -> ClearPlan:
        """What clearing a processing would delete (the confirmation step).

        Raises
        ------
        ProcessingNotFoundError
            No such processing.
        """
        try:
            return self._clear_plan(processing_id)
        finally:
            self._session.rollback()

    def clear_processing(self, processing_id: int, user: User) -> ProcessingCleared:
        """Delete a processing's log run (lines, processes) and the reduction folders the
        server may delete (`clear_plan`); recorded in the audit log as
        ``processing.clear``. The processing, its units, QA values and comments stay.

        The logs and the audit entry are committed first, then the folders deleted: a
        folder that cannot be deleted is named in ``errors``.

        Raises
        ------
        ProcessingNotFoundError
            No such processing.
        ConflictError
            The processing is still running.
        """
        now = datetime.now(UTC)
        try:
            plan = self._clear_plan(processing_id)
            if plan.status == "running":
                raise ConflictError(
                    f"Processing {processing_id} is still running: clear it once it ended"
                    " (or after stopping its pipeline)."
                )
            if plan.log_run_id is not None:
                self._processings.update_processing(processing_id, log_run_id=None)
                self._logs.delete_runs([plan.log_run_id])
            entry = self._audit.add(
                Actor(user.name, user.id),
                "processing.clear",
                f"processing {processing_id} ({plan.pipeline} exposure {plan.exposure})",
                {
                    "log_run_id": plan.log_run_id,
                    "log_lines": plan.log_lines,
                    "folders": plan.folders,
                    "files_note": plan.files_note,
                },
                now,
            )
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        removed, errors = remove_folders(plan.folders)
        return ProcessingCleared(plan, removed, errors, entry.id)

    def add_comment(self, processing_id: int, text: str, user: User) -> Comment:
        """Comment on a processing.

        Raises
        ------
        InvalidRequestError
            The text is empty or longer than 10,000 characters.
        ProcessingNotFoundError
            No such processing.
        """
        text = text.strip()
        if not text:
            raise InvalidRequestError("A comment needs some text.", field="text")
        if len(text) > 10_000:
            raise InvalidRequestError(
                f"A comment is at most 10,000 characters; this one has {len(text)}.", field="text"
            )
        try:
            if self._processings.get_summary(processing_id) is None:
                raise ProcessingNotFoundError(f"No processing has the id {processing_id}.")
            comment = self._processings.add_comment(
                processing_id, user.name, text, datetime.now(UTC)
            )
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return comment
