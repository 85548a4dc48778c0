"""The live monitor's services."""

from ._live import monitor_log_topic, monitor_topic, processing_event
from .events import ApplyResult, MonitorEventService
from .monitor import MonitorService, ProcessingNotFoundError

__all__ = [
    "ApplyResult",
    "MonitorEventService",
    "MonitorService",
    "ProcessingNotFoundError",
    "monitor_log_topic",
    "monitor_topic",
    "processing_event",
]
