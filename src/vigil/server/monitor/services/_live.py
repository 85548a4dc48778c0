"""The live events of the monitor's changes, and their topics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from ...domain.live import LiveItem
from ..domain import PipelineInfo, ProcessingSummary, qa_colour
from ..storage import ProcessingKeys

__all__ = [
    "alert_event",
    "iso",
    "monitor_log_topic",
    "monitor_topic",
    "pipeline_event",
    "processing_event",
]


def monitor_topic(pipeline: str) -> str:
    """The live topic of a pipeline's events."""
    return f"monitor:{pipeline}"


def monitor_log_topic(pipeline: str) -> str:
    """The live topic of every log line of a pipeline's processings."""
    return f"monitor-log:{pipeline}"


def iso(value: datetime | None) -> str | None:
    """*value* in ISO 8601, or None."""
    return value.isoformat() if value is not None else None


def processing_event(summary: ProcessingSummary) -> LiveItem:
    """The live ``processing`` event of a processing."""
    data = {
        key: (iso(value) if isinstance(value, datetime) else value)
        for key, value in asdict(summary).items()
    }
    data["qa_colour"] = qa_colour(summary.qa_status)
    return ("processing", (monitor_topic(summary.pipeline), "monitor"), data)


def pipeline_event(info: PipelineInfo) -> LiveItem:
    """The live ``pipeline`` event of a pipeline."""
    return (
        "pipeline",
        (monitor_topic(info.name), "monitor"),
        {
            "name": info.name,
            "desired_state": info.desired_state,
            "state_changed_by": info.state_changed_by,
            "last_seen_at": iso(info.last_seen_at),
        },
    )


def alert_event(
    keys: ProcessingKeys, unit: str, kind: str, message: str, time: datetime
) -> LiveItem:
    """The live ``alert`` event of a unit that failed or a QA value in alarm."""
    return (
        "alert",
        (monitor_topic(keys.pipeline), "monitor"),
        {
            "processing_id": keys.id,
            "exposure": keys.exposure,
            "unit": unit,
            "kind": kind,
            "message": message,
            "time": iso(time),
        },
    )
