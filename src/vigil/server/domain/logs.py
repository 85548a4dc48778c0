"""Aggregated logs: runs, their lines and processes, and how a search is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LEVEL_NAMES",
    "LogBatch",
    "LogLine",
    "LogProcess",
    "LogProcessEnd",
    "LogQuery",
    "LogRecord",
    "LogRun",
    "LogSearch",
    "level_name",
    "level_number",
    "required_literals",
]

LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
"""Python's level numbers and their names."""

_NUMBERS = {name: number for number, name in LEVEL_NAMES.items()} | {"WARN": 30, "FATAL": 50}


def level_name(level: int) -> str:
    """``INFO`` for 20; the nearest lower name for other numbers (``Level 25`` below 10)."""
    if level in LEVEL_NAMES:
        return LEVEL_NAMES[level]
    lower = [n for n in LEVEL_NAMES if n <= level]
    return LEVEL_NAMES[max(lower)] if lower else f"Level {level}"


def level_number(value: str | int) -> int | None:
    """The number of a level given as a name (``warning``) or a number; None if unknown."""
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    return _NUMBERS.get(text)


@dataclass(slots=True)
class LogRecord:
    """One log record to store."""

    time: datetime
    level: int
    message: str
    unit: str | None = None
    process: str | None = None
    thread: str | None = None
    logger: str | None = None
    checkpoint: str | None = None


@dataclass(slots=True)
class LogProcessEnd:
    """How a process of a run ended (or that it started, with ``status="running"``)."""

    name: str
    status: str
    exit_status: int | None = None
    exception: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    last_lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LogBatch:
    """Records of one run, numbered ``sequence`` within their ``source``; applied once.

    ``status``, when given, ends the run (``succeeded``, ``failed``).
    """

    source: str
    sequence: int
    run: str
    kind: str = "python"
    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    records: list[LogRecord] = field(default_factory=list)
    processes: list[LogProcessEnd] = field(default_factory=list)
    status: str | None = None


@dataclass(slots=True)
class LogRun:
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
    meta: dict[str, Any] = field(default_factory=dict)
    failed_processes: int = 0


@dataclass(slots=True)
class LogLine:
    """One stored line."""

    id: int
    run_id: int
    time: datetime
    level: int
    message: str
    unit: str | None = None
    process: str | None = None
    thread: str | None = None
    logger: str | None = None
    checkpoint: str | None = None
    run_key: str | None = None

    @property
    def level_name(self) -> str:
        """``INFO``, ``ERROR``..."""
        return level_name(self.level)


@dataclass(slots=True)
class LogProcess:
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
    last_lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LogQuery:
    """Which lines to read; None means any.

    ``text`` matches lines containing every word (case-insensitive); ``regex`` is a
    Python regular expression searched in each line. ``after``/``before`` are line ids
    (exclusive) for paging; ``newest_first`` reverses the order.
    """

    run_id: int | None = None
    unit: str | None = None
    process: str | None = None
    thread: str | None = None
    min_level: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    regex: str | None = None
    checkpoints_only: bool = False
    after: int | None = None
    before: int | None = None
    newest_first: bool = False


@dataclass(slots=True)
class LogSearch:
    """A page of matching lines.

    ``truncated`` says the scan stopped at its time or row limit before filling the
    page; ``next_cursor`` then continues after the last line scanned.
    """

    items: list[LogLine]
    next_cursor: str | None
    scanned: int
    truncated: bool


def required_literals(pattern: str, flags: int = 0) -> list[str]:
    """Texts every match of *pattern* must contain, for a fast prefilter.

    Only runs of plain characters at the top level of the expression count (not inside
    an alternation, a group or a repetition that may match nothing). An empty list says
    nothing can be required.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
    except Exception:
        return []
    literals: list[str] = []
    run: list[str] = []
    literal = _parser.LITERAL
    for op, argument in parsed:
        if op is literal:
            run.append(chr(argument))
            continue
        if run:
            literals.append("".join(run))
            run = []
    if run:
        literals.append("".join(run))
    if parsed.state.flags & re.IGNORECASE:
        # LIKE folds ASCII case only.
        literals = [text for text in literals if text.isascii()]
    return [text for text in literals if len(text) >= 3]
