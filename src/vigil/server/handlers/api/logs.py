"""Log aggregation's API: records in, runs, lines (filters, regular expressions), processes
that ended abnormally, and a live tail."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...dependencies import base_url, factory_dependency, read_access, require_role
from ...domain import Role, User, parse_decimal
from ...domain.logs import (
    MAX_LEVEL,
    LogBatch,
    LogProcessEnd,
    LogQuery,
    LogRecord,
    level_number,
)
from ...exceptions import InvalidJsonError, InvalidRequestError
from ...factory import Factory
from .._live import check_read_access, event_stream, live_feed
from ._common import ERRORS, Limit, next_url, page_limit, unprocessable

__all__ = [
    "LogBatchModel",
    "LogLineModel",
    "LogLinesModel",
    "LogProcessModel",
    "LogRunModel",
    "log_batch",
    "log_query",
    "router",
    "stream_router",
]

router = APIRouter(prefix="/api", tags=["logs"], dependencies=[Depends(read_access)])
stream_router = APIRouter(prefix="/api", tags=["logs"])


class LogRecordModel(BaseModel):
    """One log record."""

    model_config = ConfigDict(extra="ignore")

    time: datetime
    level: int | str = Field(20, description="Number (20) or name (INFO).")
    message: str
    unit: str | None = Field(None, max_length=64)
    process: str | None = Field(None, max_length=64)
    thread: str | None = Field(None, max_length=64)
    logger: str | None = Field(None, max_length=256)
    checkpoint: str | None = Field(None, max_length=128)

    def to_domain(self, index: int) -> LogRecord:
        level = level_number(self.level)
        if level is None:
            raise InvalidRequestError(
                f"Level {self.level!r} is not a level name (DEBUG, INFO, WARNING, ERROR,"
                f" CRITICAL) or a number from 0 to {MAX_LEVEL}.",
                field=f"records[{index}].level",
            )
        return LogRecord(
            time=self.time,
            level=level,
            message=self.message,
            unit=self.unit,
            process=self.process,
            thread=self.thread,
            logger=self.logger,
            checkpoint=self.checkpoint,
        )


class LogProcessInModel(BaseModel):
    """How a process of the run ended (or that it runs)."""

    name: str = Field(..., min_length=1, max_length=128)
    status: Literal["running", "succeeded", "failed", "killed", "stopped"]
    exit_status: int | None = None
    exception: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_lines: list[str] = Field(default_factory=list)


class LogBatchModel(BaseModel):
    """Records of one run, numbered within their source; a batch is applied once."""

    source: str = Field(..., min_length=1, max_length=128)
    sequence: int = Field(..., ge=1)
    run: str = Field(..., min_length=1, max_length=256, description="The run's key.")
    kind: str = Field("python", max_length=32, description="monitor, ci, python...")
    title: str | None = Field(None, max_length=512)
    meta: dict[str, Any] = Field(default_factory=dict)
    records: list[LogRecordModel] = Field(default_factory=list)
    processes: list[LogProcessInModel] = Field(default_factory=list)
    status: Literal["succeeded", "failed", "stopped"] | None = Field(
        None, description="Ends the run with this status."
    )


def _inlined(schema: Any, definitions: dict[str, Any] | None = None) -> Any:
    """*schema* with its ``$defs`` references replaced by the definitions themselves."""
    if definitions is None:
        definitions = schema.pop("$defs", {}) if isinstance(schema, dict) else {}
    if isinstance(schema, dict):
        reference = schema.get("$ref", "")
        if reference.startswith("#/$defs/"):
            return _inlined(dict(definitions[reference.removeprefix("#/$defs/")]), definitions)
        return {key: _inlined(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(LogBatchModel.model_json_schema())}},
    }
}


async def log_batch(request: Request) -> LogBatchModel:
    """The body of ``POST /api/logs``, parsed and validated in one pass.

    Pydantic reads the JSON itself (in Rust) instead of validating the objects
    FastAPI's parser built: for a batch of a thousand records, a quarter of the time.
    Errors keep FastAPI's 422 shape.
    """
    body = await request.body()
    try:
        return LogBatchModel.model_validate_json(body)
    except ValidationError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            # The error would echo the bytes back, which no JSON answer can hold.
            raise InvalidJsonError("The request body is not UTF-8 text.", field="body") from None
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


class LogStoredModel(BaseModel):
    """What the server did with a batch."""

    run_id: int
    stored: int
    duplicate: bool
    url: str


class _FromDomain(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LogRunModel(_FromDomain):
    """A run whose logs are aggregated."""

    id: int
    key: str
    kind: str
    title: str | None
    status: str
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    line_count: int
    error_count: int
    failed_processes: int
    meta: dict[str, Any]


class LogRunDetailModel(LogRunModel):
    """A run and the units that wrote in it."""

    units: list[str]


class LogRunPageModel(BaseModel):
    """A page of runs."""

    items: list[LogRunModel]
    next_cursor: str | None
    next_url: str | None


class LogLineModel(_FromDomain):
    """A stored line."""

    id: int
    run_id: int
    run_key: str | None
    run_title: str | None = Field(
        None, description="The run's readable name (a processing's exposure), if it has one."
    )
    time: datetime
    level: int
    level_name: str
    unit: str | None
    process: str | None
    thread: str | None
    logger: str | None
    checkpoint: str | None
    message: str


class LogLinesModel(BaseModel):
    """A page of matching lines; ``truncated``: the scan hit its time limit first."""

    items: list[LogLineModel]
    next_cursor: str | None
    next_url: str | None
    scanned: int
    truncated: bool
    stopped_after: float | None = Field(
        default=None,
        description=(
            "With ``truncated``: the seconds the search ran before its time limit"
            " (``VIGIL_LOG_SEARCH_SECONDS``) stopped it. ``next_cursor`` then continues"
            " after the last line it read (null when it read none to the end)."
        ),
    )


class LogProcessModel(_FromDomain):
    """A process of a run and how it ended."""

    id: int
    run_id: int
    run_key: str
    run_title: str | None
    name: str
    status: str
    exit_status: int | None
    exception: str | None
    started_at: datetime | None
    ended_at: datetime | None
    last_lines: list[str]


class LogProcessPageModel(BaseModel):
    """A page of processes."""

    items: list[LogProcessModel]
    next_cursor: str | None
    next_url: str | None


@router.post(
    "/logs",
    response_model=LogStoredModel,
    summary="Store log records of a run",
    openapi_extra=_BATCH_BODY,
    responses={**ERRORS, 422: unprocessable("A record is malformed; nothing was stored")},
)
def post_logs(
    request: Request,
    user: User = Depends(require_role(Role.SUBMITTER)),
    batch: LogBatchModel = Depends(log_batch),
    factory: Factory = Depends(factory_dependency),
) -> LogStoredModel:
    """Store the records (and process endings) of a run, once per ``(source, sequence)``."""
    domain = LogBatch(
        source=batch.source,
        sequence=batch.sequence,
        run=batch.run,
        kind=batch.kind,
        title=batch.title,
        meta=batch.meta,
        records=[r.to_domain(i) for i, r in enumerate(batch.records)],
        processes=[LogProcessEnd(**p.model_dump()) for p in batch.processes],
        status=batch.status,
    )
    result = factory.create_log_service(live_feed(request)).ingest(domain)
    return LogStoredModel(
        run_id=result.run_id,
        stored=result.stored,
        duplicate=result.duplicate,
        url=f"{base_url(request)}/api/logs/runs/{result.run_id}",
    )


@router.get(
    "/logs/runs", response_model=LogRunPageModel, summary="Runs with logs", responses=ERRORS
)
def list_runs(
    request: Request,
    kind: str | None = Query(None, description="monitor, ci, python..."),
    status: str | None = Query(None, description="running, succeeded, failed..."),
    q: str | None = Query(None, description="Text in the run's key or title."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> LogRunPageModel:
    """Runs, newest first."""
    page = factory.create_log_service().list_runs(
        kind=kind or None,
        status=status or None,
        text=q or None,
        limit=page_limit(request, limit),
        cursor=cursor,
    )
    return LogRunPageModel(
        items=[LogRunModel.model_validate(r) for r in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@router.get(
    "/logs/runs/{run_id}", response_model=LogRunDetailModel, summary="One run", responses=ERRORS
)
def get_run(run_id: int, factory: Factory = Depends(factory_dependency)) -> LogRunDetailModel:
    """A run, its counts and the units that wrote in it."""
    service = factory.create_log_service()
    run = service.get_run(run_id)
    return LogRunDetailModel(
        **LogRunModel.model_validate(run).model_dump(), units=service.run_units(run_id)
    )


def _time(text: str | None, field: str) -> datetime | None:
    """A time of a search window: ISO 8601, a day alone meaning its midnight; UTC unless
    it says otherwise."""
    if text is None or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"{field}: {text!r} is not an ISO 8601 time such as 2026-05-02T22:00:00Z,"
            " 2026-05-02T22:00 (UTC) or 2026-05-02.",
            field=field,
        ) from None
    try:
        # In UTC now: a time at the edge of the calendar cannot overflow in the database.
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise InvalidRequestError(
            f"{field}: {text!r} falls outside the years 1 to 9999 in UTC.", field=field
        ) from None


def log_query(
    run: int | None = Query(None, description="Only this run (id)."),
    unit: str | None = Query(None, description="Only this unit."),
    process: str | None = Query(None, description="Only this process."),
    thread: str | None = Query(None, description="Only this thread (or stream)."),
    level: str | None = Query(None, description="At least this level (WARNING, 40...)."),
    since: str | None = Query(
        None,
        description=(
            "At or after this time: ISO 8601 (``2026-05-02T22:00:00Z``), or a day"
            " (``2026-05-02``, its midnight); without a zone, UTC."
        ),
    ),
    until: str | None = Query(None, description="Before this time (as ``since``)."),
    q: str | None = Query(None, description="Words every line must contain (any case)."),
    regex: str | None = Query(
        None,
        description=(
            "A regular expression to search for, in RE2's syntax (Python's without"
            " backreferences and lookarounds: 422 for those)."
        ),
    ),
    checkpoints: bool = Query(False, description="Only the lines that mark a step."),
    order: str = Query("asc", pattern="^(asc|desc)$", description="asc: oldest first."),
) -> LogQuery:
    """The filters of a line search, from the query string.

    Raises
    ------
    InvalidRequestError
        The level is not a level, a time is not ISO 8601, or ``until`` is not after
        ``since``.
    """
    first = _time(since, "since")
    last = _time(until, "until")
    if first is not None and last is not None and last <= first:
        raise InvalidRequestError(f"until ({until}) must be after since ({since}).", field="until")
    min_level = None
    if level:
        min_level = level_number(level)
        if min_level is None:
            raise InvalidRequestError(
                f"Level {level!r} is not DEBUG, INFO, WARNING, ERROR, CRITICAL or a number"
                f" from 0 to {MAX_LEVEL}.",
                field="level",
            )
    return LogQuery(
        run_id=run,
        unit=unit or None,
        process=process or None,
        thread=thread or None,
        min_level=min_level,
        since=first,
        until=last,
        text=q or None,
        regex=regex or None,
        checkpoints_only=checkpoints,
        newest_first=order == "desc",
    )


@router.get(
    "/logs/lines",
    response_model=LogLinesModel,
    summary="Search log lines",
    responses={
        **ERRORS,
        422: unprocessable("The regular expression uses what RE2 does not support"),
    },
)
def search_lines(
    request: Request,
    query: LogQuery = Depends(log_query),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> LogLinesModel:
    """Lines matching the filters, words and regular expression, a page at a time; a
    search stops after ``VIGIL_LOG_SEARCH_SECONDS`` with what it found (``truncated``)."""
    started = time.monotonic()
    result = factory.create_log_service().search(
        query, limit=page_limit(request, limit), cursor=cursor
    )
    return LogLinesModel(
        items=[LogLineModel.model_validate(line) for line in result.items],
        next_cursor=result.next_cursor,
        next_url=next_url(request, result.next_cursor),
        scanned=result.scanned,
        truncated=result.truncated,
        stopped_after=round(time.monotonic() - started, 3) if result.truncated else None,
    )


@router.get(
    "/logs/processes",
    response_model=LogProcessPageModel,
    summary="Processes and how they ended",
    responses=ERRORS,
)
def list_processes(
    request: Request,
    run: int | None = Query(None, description="Only this run."),
    status: str | None = Query("failed", description="failed (default), succeeded, running..."),
    limit: int = Limit,
    cursor: str | None = Query(None, description="``next_cursor`` of the previous page."),
    factory: Factory = Depends(factory_dependency),
) -> LogProcessPageModel:
    """Processes, newest first; by default those that ended abnormally, with exit status
    and exception."""
    page = factory.create_log_service().processes(
        run_id=run, status=status or None, limit=page_limit(request, limit), cursor=cursor
    )
    return LogProcessPageModel(
        items=[LogProcessModel.model_validate(p) for p in page.items],
        next_cursor=page.next_cursor,
        next_url=next_url(request, page.next_cursor),
    )


@stream_router.get(
    "/logs/stream",
    response_class=EventSourceResponse,
    # Checked before the stream starts: a refused token is a 401, not a broken stream.
    dependencies=[Depends(check_read_access)],
    summary="Live tail of a run (server-sent events)",
    responses=ERRORS,
)
async def stream(
    request: Request,
    run: int = Query(..., description="The run."),
    unit: str | None = Query(None, description="Only this unit's lines."),
    since: int | None = Query(None, description="Replay events after this id first."),
    last_event_id: str | None = Header(None, description="Sent by EventSource on reconnect."),
) -> AsyncIterator[ServerSentEvent]:
    """``text/event-stream`` of the run's new lines (``log`` events)."""
    check_read_access(request)
    topics = {f"log:{run}:{unit}" if unit else f"log:{run}"}
    start = since
    if start is None:
        start = parse_decimal(last_event_id)
    async for item in event_stream(request, topics, start):
        yield item
