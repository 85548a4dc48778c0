"""Apply a runner's events once each: the live monitor's ingest.

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
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ...config import Settings
from ...domain import User
from ...domain.live import LiveItem
from ...domain.logs import FAILED_STATUSES, LogRecord
from ...exceptions import InvalidRequestError
from ...services.live import Publisher, line_notices
from ...storage.event_sources import EventSourceStore
from ...storage.live import LiveEventStore
from ..domain import (
    EventBatch,
    ExposureSeen,
    Heartbeat,
    MonitorEvent,
    PipelineAnnounced,
    ProcessingEnded,
    ProcessingStarted,
    QaReported,
    StepChanged,
    UnitEnded,
    UnitLogLine,
    UnitStarted,
    qa_colour,
    worst_status,
)
from ..storage import PipelineStore, ProcessingKeys, ProcessingStore
from ._live import (
    alert_event,
    iso,
    monitor_log_topic,
    monitor_topic,
    pipeline_event,
    processing_event,
)
from ._qa_job import qa_job_payload

if TYPE_CHECKING:
    from ...services.failure_notices import FailureNoticeService
    from ...services.jobs import JobService
    from ...services.logs import LogService

__all__ = ["ApplyResult", "MonitorEventService"]

logger = logging.getLogger(__name__)


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
    failed: list[tuple[ProcessingKeys, ProcessingEnded]] = field(default_factory=list)
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


class MonitorEventService:
    """Applies the runners' event batches; owns the transaction of each.

    Parameters
    ----------
    session
        The database session.
    settings
        Server settings.
    pipelines
        The pipelines and exposures.
    processings
        The processings, their units, steps, QA values.
    sources
        The last batch applied per event source.
    live
        Where the live events are written.
    logs
        Stores the units' log lines (in the processing's log run).
    publish
        Woken once live events are committed (None: no live events).
    jobs
        The job service that records QA values as jobs (None: not recorded).
    failures
        Queues the notice of a failed processing to its subscribers (None: none).
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        pipelines: PipelineStore,
        processings: ProcessingStore,
        sources: EventSourceStore,
        live: LiveEventStore,
        logs: LogService,
        publish: Publisher | None = None,
        jobs: JobService | None = None,
        failures: FailureNoticeService | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._pipelines = pipelines
        self._processings = processings
        self._sources = sources
        self._live = live
        self._logs = logs
        self._publish = publish
        self._jobs = jobs
        self._failures = failures

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
            info = self._pipelines.get_pipeline(name)
            if info is not None:
                control[name] = info.desired_state
        return control

    def _keys(self, key: str, state: _Batch) -> ProcessingKeys:
        keys = state.processings.get(key)
        if keys is None:
            keys = self._processings.processing_keys(key)
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
            self._pipelines.announce_pipeline(event.pipeline, description, state.now)
            state.pipelines.add(event.pipeline)
            if isinstance(event, PipelineAnnounced):
                info = self._pipelines.get_pipeline(event.pipeline)
                assert info is not None
                state.live.append(pipeline_event(info))
            return
        if isinstance(event, ExposureSeen):
            if event.pipeline not in state.pipelines:
                self._pipelines.announce_pipeline(event.pipeline, None, state.now)
                state.pipelines.add(event.pipeline)
            self._pipelines.upsert_exposure(event, "seen", state.now)
            data = {
                k: (iso(v) if isinstance(v, datetime) else v)
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
                ("unit", topic, {**base, "status": "running", "started_at": iso(event.time)})
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
                    {**base, "step": event.step, "status": event.state, "time": iso(event.time)},
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
                    alert_event(
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
                        "ended_at": iso(event.time),
                    },
                )
            )
            if event.status in FAILED_STATUSES:
                state.live.append(
                    alert_event(
                        keys, event.unit, "failed", event.message or event.status, event.time
                    )
                )

    def _start_processing(self, event: ProcessingStarted, state: _Batch) -> None:
        if not event.units:
            raise InvalidRequestError("A processing needs at least one unit.", field="units")
        names = [str(step.get("name", "")) for step in event.steps]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise InvalidRequestError("Every step of a processing needs a distinct name.")
        exposure_id = self._pipelines.exposure_id(event.pipeline, event.exposure)
        if exposure_id is None:
            exposure_id = self._pipelines.upsert_exposure(
                ExposureSeen(
                    pipeline=event.pipeline,
                    exposure=event.exposure,
                    time=event.time,
                    flavor=event.flavor,
                ),
                "seen",
                state.now,
            )
        self._pipelines.set_exposure_state(exposure_id, "processed")
        run_id = self._logs.store.ensure_run(
            f"monitor/{event.pipeline}/{event.processing}",
            kind="monitor",
            title=f"{event.pipeline} exposure {event.exposure}",
            meta={
                "pipeline": event.pipeline,
                "exposure": event.exposure,
                "flavor": event.flavor,
                **({"outputs": event.outputs} if event.outputs else {}),
            },
            now=state.now,
        )
        processing_id = self._processings.insert_processing(
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
        self._processings.update_processing(keys.id, status=event.status, ended_at=event.time)
        if keys.log_run_id is not None:
            self._logs.store.end_run(keys.log_run_id, event.status, event.time)
        state.touched.add(keys.id)
        state.ended.append(keys.id)
        if event.status == "failed":
            state.failed.append((keys, event))

    def _finish_batch(self, state: _Batch) -> None:
        """Store the batch's lines, roll QA statuses up, count failed units and queue the
        notices of failed processings."""
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
        self._processings.upsert_qa_values(list(state.qa.values()))
        statuses: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        if state.qa_units:
            for unit_id, step, status in self._processings.qa_statuses(list(state.qa_units)):
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
        self._processings.update_units(list(state.units.values()))
        self._processings.update_steps(list(state.steps.values()))
        self._logs.store.upsert_processes(list(state.processes.values()))
        if self._failures is not None:
            # After the units are written: the notice lists their ends of this batch too.
            for keys, event in state.failed:
                self._failures.processing_failed(
                    keys.pipeline,
                    event.processing,
                    keys.id,
                    keys.exposure,
                    keys.flavor,
                    self._processings.list_units(keys.id),
                    event.time,
                )
        for processing_id in state.touched:
            units = self._processings.unit_statuses(processing_id)
            self._processings.update_processing(
                processing_id,
                failed_count=sum(1 for status, _ in units if status in FAILED_STATUSES),
                qa_status=worst_status([qa for _, qa in units]),
            )
            summary = self._processings.get_summary(processing_id)
            if summary is not None:
                state.live.append(processing_event(summary))

    def _record_job(self, processing_id: int, user: User | None) -> None:
        """Store a finished processing's QA values as a job; failures are only logged."""
        if self._jobs is None or not self._settings.monitor_record_jobs:
            return
        try:
            summary = self._processings.get_summary(processing_id)
            payload = (
                None
                if summary is None
                else qa_job_payload(summary, self._processings.list_qa(processing_id))
            )
            self._session.rollback()
            if payload is None:
                return
            result = self._jobs.ingest(payload, user)
            self._processings.update_processing(processing_id, job_id=result.id)
            self._session.commit()
        except Exception:
            self._session.rollback()
            logger.exception("Could not store the QA of processing %s as a job", processing_id)


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return list(value) if isinstance(value, list | tuple) else [value]


def _slot_run(item: LiveItem | _LogSlot) -> int | None:
    return item.run_id if isinstance(item, _LogSlot) else None
