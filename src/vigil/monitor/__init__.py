"""The live monitor's runner side: run a pipeline per unit on each new exposure.

`load_config` reads a monitor configuration (DESI's Quick Look mapping files included);
`Runner` discovers exposures and runs their units, following their steps from log markers
(`StepTracker`) and judging their QA values against ranges (`evaluate`); `EventReporter`
sends everything to the server in order, through outages; `VigilLogHandler` sends a Python
pipeline's log records. See ``docs/monitor.md``.
"""

from vigil.monitor.config import MonitorConfig, QaRule, load_config, parse_config
from vigil.monitor.errors import MonitorConfigError, MonitorError
from vigil.monitor.loghandler import VigilLogHandler, send_log_file
from vigil.monitor.mapping import (
    FlavorMapping,
    TrendSpec,
    convert_mappings,
    load_step_mapping,
    load_trend_mapping,
)
from vigil.monitor.qa import COLOURS, QaEvaluation, QaStatus, Range, colour, evaluate, worst
from vigil.monitor.reporter import EventReporter
from vigil.monitor.runner import ProcessingResult, Runner
from vigil.monitor.steps import QaSpec, StepSpec, StepState, StepTracker

__all__ = [
    "COLOURS",
    "EventReporter",
    "FlavorMapping",
    "MonitorConfig",
    "MonitorConfigError",
    "MonitorError",
    "ProcessingResult",
    "QaEvaluation",
    "QaRule",
    "QaSpec",
    "QaStatus",
    "Range",
    "Runner",
    "StepSpec",
    "StepState",
    "StepTracker",
    "TrendSpec",
    "VigilLogHandler",
    "colour",
    "convert_mappings",
    "evaluate",
    "load_config",
    "load_step_mapping",
    "load_trend_mapping",
    "parse_config",
    "send_log_file",
    "worst",
]
