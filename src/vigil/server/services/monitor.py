"""The live monitor: apply a runner's events once each, and read what the pages show.

A batch of events (`EventBatch`) is applied in one transaction, in order, unless its
``(source, sequence)`` was applied before. The same transaction writes the live events
that announce the changes: ``pipeline``, ``exposure``, ``processing``, ``unit``,
``step``, ``qa``, ``alert`` (topic ``monitor:<pipeline>``) and the ``lines`` that become
``log`` events (topics ``log:<run>``, ``log:<run>:<unit>``, ``monitor-log:<pipeline>``).
When a processing ends, its QA values are also stored as a job (one measurement per
unit, key and amplifier) so that regression detection applies.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..config import Settings
from ..domain import User
from ..domain.live import LiveItem
from ..domain.logs import LogRecord
from ..domain.monitor import (
    HISTORY_SORTS,
    Alert,
    Comment,
    ConditionPoint,
    EventBatch,
    ExposureRecord,
    ExposureSeen,
    Heartbeat,
    HistoryFilter,
    MonitorEvent,
    PipelineAnnounced,
    PipelineInfo,
    ProcessingDetail,
    ProcessingEnded,
    ProcessingStarted,
    ProcessingSummary,
    QaReported,
    StepChanged,
    TrendPoint,
    TrendSeries,
    UnitEnded,
    UnitLogLine,
    UnitStarted,
    qa_colour,
    worst_status,
)
from ..exceptions import InvalidRequestError, NotFoundError
from ..storage.live import LiveEventStore
from ..storage.monitor import EventSourceStore, MonitorStore, ProcessingKeys
from .live import Publisher, line_notices
from .logs import LogService

if TYPE_CHECKING:
    from .jobs import JobService

__all__ = [
    "ApplyResult",
    "MonitorService",
    "ProcessingNotFoundError",
    "monitor_log_topic",
    "monitor_topic",
    "processing_event",
]

logger = logging.getLogger(__name__)

_STATES = ("running", "stopped")
_METRIC_PACKAGE = re.compile(r"[^A-Za-z0-9_]")
_MAX_ELEMENTS = 16
_AMPLIFIERS = "ABCD"


class ProcessingNotFoundError(NotFoundError):
    """No processing has the id asked for."""

    code = "processing_not_found"


def monitor_topic(pipeline: str) -> str:
    """The live topic of a pipeline's events."""
    return f"monitor:{pipeline}"


def monitor_log_topic(pipeline: str) -> str:
    """The live topic of every log line of a pipeline's processings."""
    return f"monitor-log:{pipeline}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def processing_event(summary: ProcessingSummary) -> LiveItem:
    """The live ``processing`` event of a processing."""
    data = {
        key: (_iso(value) if isinstance(value, datetime) else value)
        for key, value in asdict(summary).items()
    }
    data["qa_colour"] = qa_colour(summary.qa_status)
    return ("processing", (monitor_topic(summary.pipeline), "monitor"), data)


@dataclass(slots=True)
class ApplyResult:
    """What applying a batch did, and the pipelines' wanted states for the runner."""

    applied: int
    duplicate: bool
    control: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _LogSlot:
    """Where a log line's live event goes, once the line is stored and has its id."""

    run_id: int


@dataclass(slots=True)
class _Batch:
    """What one batch touched, for the end-of-batch updates and the live events."""

    now: datetime
    processings: dict[str, ProcessingKeys] = field(default_factory=dict)
    live: list[LiveItem | _LogSlot] = field(default_factory=list)
    lines: dict[int, list[LogRecord]] = field(default_factory=lambda: defaultdict(list))
    run_pipelines: dict[int, str] = field(default_factory=dict)
    qa_units: dict[int, tuple[ProcessingKeys, str]] = field(default_factory=dict)
    ended: list[int] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)
    pipelines: set[str] = field(default_factory=set)
    units: dict[int, dict[str, Any]] = field(default_factory=dict)
    steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    qa: dict[tuple[int, str, str], dict[str, Any]] = field(default_factory=dict)
    processes: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)

    # Row updates are gathered and written once at the end of the batch: a unit's row
    # changes several times within one batch, and one statement per event is the cost.

    def set_unit(self, unit_id: int, **values: Any) -> None:
        self.units.setdefault(unit_id, {"id": unit_id}).update(values)

    def set_step(self, step_id: int, **values: Any) -> None:
        self.steps.setdefault(step_id, {"id": step_id}).update(values)

    def set_process(self, run_id: int, name: str, **values: Any) -> None:
        self.processes.setdefault((run_id, name), {"run_id": run_id, "name": name}).update(values)


class MonitorService:
    """Decisions of the live monitor; owns the transaction of each call.

    Parameters
    ----------
    session
        The database session.
    settings
        Server settings.
    publish
        Woken once live events are committed (None: no live events).
    jobs
        Makes the job service that records QA values as jobs (None: not recorded).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        publish: Publisher | None = None,
        jobs: Callable[[], JobService] | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._publish = publish
        self._jobs = jobs
        self._store = MonitorStore(session)
        self._sources = EventSourceStore(session)
        self._live = LiveEventStore(session)
        self._logs = LogService(session, settings)

    # Ingest ---------------------------------------------------------------------------

    def apply(self, batch: EventBatch, user: User | None = None) -> ApplyResult:
        """Apply a batch of events once, in order, in one transaction.

        Raises
        ------
        InvalidRequestError
            An event names a processing or unit never started; nothing was applied.
        """
        state = _Batch(now=datetime.now(UTC))
        try:
            last = self._sources.last_sequence(batch.source)
            if last is not None and batch.sequence <= last:
                for event in batch.events:
                    if isinstance(event, PipelineAnnounced | Heartbeat):
                        state.pipelines.add(event.pipeline)
                control = self._control(state.pipelines)
                self._session.rollback()
                return ApplyResult(applied=0, duplicate=True, control=control)
            for index, event in enumerate(batch.events):
                try:
                    self._apply(event, state)
                except InvalidRequestError as exc:
                    exc.field = f"events[{index}]"
                    raise
            self._finish_batch(state)
            self._sources.set_last_sequence(batch.source, batch.sequence, state.now)
            control = self._control(state.pipelines)
            if self._publish is not None:
                self._live.append(state.live, state.now)  # type: ignore[arg-type]
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        if self._publish is not None and state.live:
            self._publish.wake()
        for processing_id in state.ended:
            self._record_job(processing_id, user)
        if state.lines:
            self._logs.maybe_prune(state.now)
        return ApplyResult(applied=len(batch.events), duplicate=False, control=control)

    def _control(self, pipelines: set[str]) -> dict[str, str]:
        control = {}
        for name in sorted(pipelines):
            info = self._store.get_pipeline(name)
            if info is not None:
                control[name] = info.desired_state
        return control

    def _keys(self, key: str, state: _Batch) -> ProcessingKeys:
        keys = state.processings.get(key)
        if keys is None:
            keys = self._store.processing_keys(key)
            if keys is None:
                raise InvalidRequestError(
                    f"No processing has the key {key!r}: its processing_started event must"
                    " come first."
                )
            state.processings[key] = keys
            state.pipelines.add(keys.pipeline)
        return keys

    @staticmethod
    def _unit(keys: ProcessingKeys, unit: str) -> int:
        unit_id = keys.units.get(unit)
        if unit_id is None:
            raise InvalidRequestError(
                f"Processing {keys.id} has no unit {unit!r}; its units are"
                f" {', '.join(sorted(keys.units)) or 'none'}."
            )
        return unit_id

    def _apply(self, event: MonitorEvent, state: _Batch) -> None:
        topic: tuple[str, ...]
        if isinstance(event, UnitLogLine):
            keys = self._keys(event.processing, state)
            self._unit(keys, event.unit)
            if keys.log_run_id is None:
                return
            records = state.lines[keys.log_run_id]
            state.run_pipelines[keys.log_run_id] = keys.pipeline
            records.append(
                LogRecord(
                    time=event.time,
                    level=event.level,
                    message=event.message,
                    unit=event.unit,
                    process=event.unit,
                    thread=event.stream,
                    logger=None,
                    checkpoint=event.checkpoint,
                )
            )
            state.live.append(_LogSlot(keys.log_run_id))
            return
        if isinstance(event, PipelineAnnounced | Heartbeat):
            description = event.description if isinstance(event, PipelineAnnounced) else None
            self._store.announce_pipeline(event.pipeline, description, state.now)
            state.pipelines.add(event.pipeline)
            if isinstance(event, PipelineAnnounced):
                info = self._store.get_pipeline(event.pipeline)
                assert info is not None
                state.live.append(_pipeline_event(info))
            return
        if isinstance(event, ExposureSeen):
            if event.pipeline not in state.pipelines:
                self._store.announce_pipeline(event.pipeline, None, state.now)
                state.pipelines.add(event.pipeline)
            self._store.upsert_exposure(event, "seen", state.now)
            data = {
                k: (_iso(v) if isinstance(v, datetime) else v)
                for k, v in asdict(event).items()
                if k != "header"
            }
            state.live.append(("exposure", (monitor_topic(event.pipeline), "monitor"), data))
            return
        if isinstance(event, ProcessingStarted):
            self._start_processing(event, state)
            return
        keys = self._keys(event.processing, state)
        topic = (monitor_topic(keys.pipeline), "monitor")
        if isinstance(event, ProcessingEnded):
            self._end_processing(keys, event, state)
            return
        unit_id = self._unit(keys, event.unit)
        base = {"processing_id": keys.id, "unit": event.unit}
        if isinstance(event, UnitStarted):
            state.set_unit(unit_id, status="running", started_at=event.time)
            if keys.log_run_id is not None:
                state.set_process(
                    keys.log_run_id,
                    event.unit,
                    status="running",
                    started_at=event.time,
                    last_lines=[],
                )
            state.live.append(
                ("unit", topic, {**base, "status": "running", "started_at": _iso(event.time)})
            )
        elif isinstance(event, StepChanged):
            step_id = keys.steps.get((unit_id, event.step))
            if step_id is None:
                raise InvalidRequestError(
                    f"Processing {keys.id} has no step {event.step!r}; it was started with"
                    f" {', '.join(sorted({n for _, n in keys.steps})) or 'none'}."
                )
            if event.state == "running":
                state.set_step(step_id, status=event.state, started_at=event.time)
                state.set_unit(unit_id, status="running", current_step=event.step)
            else:
                state.set_step(step_id, status=event.state, ended_at=event.time)
            state.live.append(
                (
                    "step",
                    topic,
                    {**base, "step": event.step, "status": event.state, "time": _iso(event.time)},
                )
            )
        elif isinstance(event, QaReported):
            state.qa[(unit_id, event.step, event.key)] = {
                "processing_id": keys.id,
                "unit_id": unit_id,
                "pipeline": keys.pipeline,
                "unit": event.unit,
                "step": event.step,
                "key": event.key,
                "display_name": event.display_name,
                "status": event.status,
                "value": event.value,
                "values": event.values,
                "statuses": event.statuses,
                "normal_range": event.normal,
                "warning_range": event.warning,
                # SQLite's JSON columns turn a bare number into a REAL: keep a list.
                "reference": _as_list(event.reference),
                "observed_at": keys.observed_at,
            }
            state.qa_units[unit_id] = (keys, event.unit)
            state.live.append(
                (
                    "qa",
                    topic,
                    {
                        **base,
                        "step": event.step,
                        "key": event.key,
                        "display_name": event.display_name,
                        "status": event.status,
                        "colour": qa_colour(event.status),
                        "value": event.value,
                        "values": event.values,
                        "normal": event.normal,
                        "warning": event.warning,
                        "reference": event.reference,
                    },
                )
            )
            if event.status == "alarm":
                state.live.append(
                    _alert(
                        keys,
                        event.unit,
                        "alarm",
                        f"{event.display_name or event.key} ALARM ({event.step})",
                        event.time,
                    )
                )
        elif isinstance(event, UnitEnded):
            state.set_unit(
                unit_id,
                status=event.status,
                exit_status=event.exit_status,
                message=event.message,
                last_lines=event.last_lines[-50:],
                ended_at=event.time,
                current_step=None,
            )
            if keys.log_run_id is not None:
                state.set_process(
                    keys.log_run_id,
                    event.unit,
                    status=event.status,
                    exit_status=event.exit_status,
                    exception=event.message,
                    ended_at=event.time,
                    last_lines=event.last_lines[-50:],
                )
            state.touched.add(keys.id)
            state.live.append(
                (
                    "unit",
                    topic,
                    {
                        **base,
                        "status": event.status,
                        "exit_status": event.exit_status,
                        "message": event.message,
                        "current_step": None,
                        "ended_at": _iso(event.time),
                    },
                )
            )
            if event.status == "failed":
                state.live.append(
                    _alert(keys, event.unit, "failed", event.message or "failed", event.time)
                )

    def _start_processing(self, event: ProcessingStarted, state: _Batch) -> None:
        if not event.units:
            raise InvalidRequestError("A processing needs at least one unit.", field="units")
        names = [str(step.get("name", "")) for step in event.steps]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise InvalidRequestError("Every step of a processing needs a distinct name.")
        exposure_id = self._store.exposure_id(event.pipeline, event.exposure)
        if exposure_id is None:
            exposure_id = self._store.upsert_exposure(
                ExposureSeen(
                    pipeline=event.pipeline,
                    exposure=event.exposure,
                    time=event.time,
                    flavor=event.flavor,
                ),
                "seen",
                state.now,
            )
        self._store.set_exposure_state(exposure_id, "processed")
        run_id = self._logs.store.ensure_run(
            f"monitor/{event.pipeline}/{event.processing}",
            kind="monitor",
            title=f"{event.pipeline} exposure {event.exposure}",
            meta={"pipeline": event.pipeline, "exposure": event.exposure, "flavor": event.flavor},
            now=state.now,
        )
        processing_id = self._store.insert_processing(
            key=event.processing,
            exposure_id=exposure_id,
            pipeline=event.pipeline,
            flavor=event.flavor,
            steps=event.steps,
            units=event.units,
            log_run_id=run_id,
            now=event.time,
        )
        state.touched.add(processing_id)
        state.pipelines.add(event.pipeline)

    def _end_processing(self, keys: ProcessingKeys, event: ProcessingEnded, state: _Batch) -> None:
        self._store.update_processing(keys.id, status=event.status, ended_at=event.time)
        if keys.log_run_id is not None:
            self._logs.store.end_run(keys.log_run_id, event.status, event.time)
        state.touched.add(keys.id)
        state.ended.append(keys.id)

    def _finish_batch(self, state: _Batch) -> None:
        """Store the batch's lines, roll QA statuses up, and count failed units."""
        stored: dict[int, list[tuple[int, LogRecord]]] = {}
        for run_id, records in state.lines.items():
            ids = self._logs.store_lines(run_id, records, state.now)
            stored[run_id] = list(zip(ids, records, strict=True))
        # Each stretch of a run's lines between two other events becomes one ``lines``
        # event, in its place: the order of lines and steps is kept.
        cursors: dict[int, int] = defaultdict(int)
        live: list[LiveItem | _LogSlot] = []
        for slot_run, group in groupby(state.live, key=_slot_run):
            items = list(group)
            if slot_run is None:
                live.extend(items)
                continue
            start = cursors[slot_run]
            cursors[slot_run] = start + len(items)
            extra = (monitor_log_topic(state.run_pipelines.get(slot_run, "")),)
            stretch = stored[slot_run][start : start + len(items)]
            live.extend(line_notices(slot_run, stretch, extra))
        state.live = live
        self._store.upsert_qa_values(list(state.qa.values()))
        statuses: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        if state.qa_units:
            for unit_id, step, status in self._store.qa_statuses(list(state.qa_units)):
                statuses[unit_id][step].append(status)
        for unit_id, (keys, unit) in state.qa_units.items():
            by_step = statuses[unit_id]
            topic = (monitor_topic(keys.pipeline), "monitor")
            for step, values in by_step.items():
                status = worst_status(values)
                step_id = keys.steps.get((unit_id, step))
                if step_id is not None:
                    state.set_step(step_id, qa_status=status)
                state.live.append(
                    (
                        "step",
                        topic,
                        {"processing_id": keys.id, "unit": unit, "step": step, "qa_status": status},
                    )
                )
            unit_status = worst_status([s for values in by_step.values() for s in values])
            state.set_unit(unit_id, qa_status=unit_status)
            state.live.append(
                ("unit", topic, {"processing_id": keys.id, "unit": unit, "qa_status": unit_status})
            )
            state.touched.add(keys.id)
        self._store.update_units(list(state.units.values()))
        self._store.update_steps(list(state.steps.values()))
        self._logs.store.upsert_processes(list(state.processes.values()))
        for processing_id in state.touched:
            units = self._store.unit_statuses(processing_id)
            self._store.update_processing(
                processing_id,
                failed_count=sum(1 for status, _ in units if status == "failed"),
                qa_status=worst_status([qa for _, qa in units]),
            )
            summary = self._store.get_summary(processing_id)
            if summary is not None:
                state.live.append(processing_event(summary))

    def _record_job(self, processing_id: int, user: User | None) -> None:
        """Store a finished processing's QA values as a job; failures are only logged."""
        if self._jobs is None or not self._settings.monitor_record_jobs:
            return
        try:
            payload = self._job_payload(processing_id)
            self._session.rollback()
            if payload is None:
                return
            result = self._jobs().ingest(payload, user)
            self._store.update_processing(processing_id, job_id=result.id)
            self._session.commit()
        except Exception:
            self._session.rollback()
            logger.exception("Could not store the QA of processing %s as a job", processing_id)

    def _job_payload(self, processing_id: int) -> dict[str, Any] | None:
        summary = self._store.get_summary(processing_id)
        if summary is None:
            return None
        values = self._store.list_qa(processing_id)
        package = _METRIC_PACKAGE.sub("_", summary.pipeline) or "monitor"
        measurements = []
        for qa in values:
            metric = f"{package}.{qa.key}"
            elements = qa.values if 1 < len(qa.values) <= _MAX_ELEMENTS else []
            if not elements:
                measurements.append(
                    {"metric": metric, "value": qa.value, "unit": "", "data_id": {"unit": qa.unit}}
                )
                continue
            per_amp = qa.key.endswith("_AMP") and len(elements) == len(_AMPLIFIERS)
            for i, value in enumerate(elements):
                data_id: dict[str, Any] = {"unit": qa.unit}
                if per_amp:
                    data_id["amplifier"] = _AMPLIFIERS[i]
                else:
                    data_id["element"] = i
                measurements.append(
                    {"metric": metric, "value": value, "unit": "", "data_id": data_id}
                )
        if not measurements:
            return None
        time = summary.observed_at or summary.started_at
        return {
            "identifier": f"monitor-{summary.key}",
            "measurements": measurements,
            "blobs": [],
            "metrics": [],
            "specs": [],
            "meta": {
                "dataset": f"{summary.pipeline}:{summary.flavor or 'unknown'}",
                "instrument": summary.pipeline,
                "date": time.isoformat(),
                "exposure": summary.exposure,
                "night": summary.night,
                "flavor": summary.flavor,
                "program": summary.program,
                "monitor_processing": summary.id,
                "env": {"env_name": "monitor", "date": time.isoformat()},
            },
        }

    # Control and queue ----------------------------------------------------------------

    def pipelines(self) -> list[PipelineInfo]:
        """Every pipeline known."""
        items = self._store.list_pipelines()
        self._session.rollback()
        return items

    def get_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline.

        Raises
        ------
        NotFoundError
            No runner ever announced it and nobody set its state.
        """
        info = self._store.get_pipeline(name)
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
            self._store.set_desired_state(name, state, user.name, now)
            info = self._store.get_pipeline(name)
            assert info is not None
            if self._publish is not None:
                self._live.append([_pipeline_event(info)], now)
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
            self._store.announce_pipeline(exposure.pipeline, None, datetime.now(UTC))
            exposure_id = self._store.upsert_exposure(exposure, "queued", datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        items, _ = self._store.list_exposures(
            pipeline=exposure.pipeline,
            flavor=None,
            program=None,
            since=None,
            until=None,
            limit=1,
            offset=0,
        )
        record = next((e for e in items if e.id == exposure_id), None)
        self._session.rollback()
        assert record is not None
        return record

    def claim(self, pipeline: str, limit: int) -> list[ExposureRecord]:
        """The oldest queued exposures of *pipeline*, each given to one caller only."""
        try:
            items = self._store.claim_exposures(pipeline, limit)
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
        summary = self._store.get_summary(processing_id)
        if summary is None:
            self._session.rollback()
            raise ProcessingNotFoundError(
                f"No processing has the id {processing_id}; see /monitor/processings."
            )
        detail = ProcessingDetail(
            summary=summary,
            steps=self._store.processing_steps(processing_id),
            units=self._store.list_units(processing_id),
            qa=self._store.list_qa(processing_id),
            comments=self._store.list_comments(processing_id),
        )
        self._session.rollback()
        return detail

    def latest(self, pipeline: str | None) -> ProcessingDetail | None:
        """The most recent processing (of *pipeline*), or None."""
        processing_id = self._store.latest_processing_id(pipeline)
        self._session.rollback()
        return None if processing_id is None else self.get_processing(processing_id)

    def alerts(self, pipeline: str | None, limit: int = 20) -> list[Alert]:
        """Recent failed units and QA values out of range."""
        alerts = self._store.recent_alerts(pipeline, limit)
        self._session.rollback()
        return alerts

    def history(
        self,
        filters: HistoryFilter,
        *,
        sort: str = "id",
        descending: bool = True,
        limit: int,
        offset: int = 0,
    ) -> tuple[list[ProcessingSummary], int]:
        """One page of the processing history and the number of matching rows.

        Raises
        ------
        InvalidRequestError
            *sort* is not a column of the history.
        """
        if sort not in HISTORY_SORTS:
            raise InvalidRequestError(
                f"Cannot sort by {sort!r}; choose one of {', '.join(HISTORY_SORTS)}.",
                field="sort",
            )
        result = self._store.list_processings(
            filters, sort=sort, descending=descending, limit=limit, offset=offset
        )
        self._session.rollback()
        return result

    def exposures(
        self,
        *,
        pipeline: str | None = None,
        flavor: str | None = None,
        program: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int,
        offset: int = 0,
    ) -> tuple[list[ExposureRecord], int]:
        """One page of the observing history (newest first) and the number of matches."""
        result = self._store.list_exposures(
            pipeline=pipeline,
            flavor=flavor,
            program=program,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        self._session.rollback()
        return result

    def choices(self, pipeline: str | None) -> dict[str, list[str]]:
        """Values for the filter menus: flavors, programs and QA keys seen."""
        result = {
            "flavor": self._store.distinct_values("flavor", pipeline),
            "program": self._store.distinct_values("program", pipeline),
            "qa_key": self._store.qa_keys(pipeline),
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
        rows = self._store.trend(pipeline=pipeline, key=key, units=units, since=since, until=until)
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
        points = self._store.conditions(pipeline, since, until, flavor)
        self._session.rollback()
        return points

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
            if self._store.get_summary(processing_id) is None:
                raise ProcessingNotFoundError(f"No processing has the id {processing_id}.")
            comment = self._store.add_comment(processing_id, user.name, text, datetime.now(UTC))
            self._session.commit()
        except BaseException:
            self._session.rollback()
            raise
        return comment


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]


def _slot_run(item: LiveItem | _LogSlot) -> int | None:
    return item.run_id if isinstance(item, _LogSlot) else None


def _pipeline_event(info: PipelineInfo) -> LiveItem:
    return (
        "pipeline",
        (monitor_topic(info.name), "monitor"),
        {
            "name": info.name,
            "desired_state": info.desired_state,
            "state_changed_by": info.state_changed_by,
            "last_seen_at": _iso(info.last_seen_at),
        },
    )


def _alert(keys: ProcessingKeys, unit: str, kind: str, message: str, time: datetime) -> LiveItem:
    return (
        "alert",
        (monitor_topic(keys.pipeline), "monitor"),
        {
            "processing_id": keys.id,
            "exposure": keys.exposure,
            "unit": unit,
            "kind": kind,
            "message": message,
            "time": _iso(time),
        },
    )
