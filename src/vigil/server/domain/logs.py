"""Aggregated logs: runs, their lines and processes, and how a search is written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .numbers import parse_decimal

__all__ = [
    "FAILED_STATUSES",
    "LEVEL_NAMES",
    "MAX_LEVEL",
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
    "required_texts",
]

FAILED_STATUSES = ("failed", "killed")
"""Statuses of a process (a monitor unit) that ended abnormally: it failed, or it was
killed when its timeout fired."""

LEVEL_NAMES = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
"""Python's level numbers and their names."""

MAX_LEVEL = 32767
"""The highest level number a record may have: levels are stored as 16-bit integers."""

_NUMBERS = {name: number for number, name in LEVEL_NAMES.items()} | {"WARN": 30, "FATAL": 50}


def level_name(level: int) -> str:
    """``INFO`` for 20; the nearest lower name for other numbers (``Level 25`` below 10)."""
    if level in LEVEL_NAMES:
        return LEVEL_NAMES[level]
    lower = [n for n in LEVEL_NAMES if n <= level]
    return LEVEL_NAMES[max(lower)] if lower else f"Level {level}"


def level_number(value: str | int) -> int | None:
    """The number of a level given as a name (``warning``) or a number from 0 to
    `MAX_LEVEL`; None if it is neither."""
    if isinstance(value, str):
        text = value.strip().upper()
        number = parse_decimal(text)
        if number is None:
            return _NUMBERS.get(text)
        value = number
    return value if 0 <= value <= MAX_LEVEL else None


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
    run_title: str | None = None

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
    regular expression (RE2's syntax) searched in each line. ``after``/``before`` are
    line ids (exclusive) for paging; ``newest_first`` reverses the order.
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


def required_texts(pattern: str, flags: int = 0) -> list[tuple[str, ...]]:
    """What every match of *pattern* must contain, for a fast prefilter.

    A list of requirements that all hold; each is a tuple of texts of which a match
    contains at least one: a single text, or one text per branch of an alternation.
    Runs of plain characters count at the top level, inside groups and inside
    repetitions that match at least once; an alternation counts when each of its
    branches requires a text. Texts have 3 characters at least and, when case is
    ignored, only ASCII ones count (SQLite's ``LIKE`` folds ASCII letters only). An empty
    list says nothing can be required.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
    except Exception:
        return []
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)

    def usable(text: str) -> bool:
        return len(text) >= 3 and (text.isascii() or not ignore_case)

    needs = _requirements(parsed, _parser, usable)
    return list(dict.fromkeys(needs))


def _requirements(items: Any, parser: Any, usable: Any) -> list[tuple[str, ...]]:
    needs: list[tuple[str, ...]] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            text = "".join(run)
            run.clear()
            if usable(text):
                needs.append((text,))

    repeats = {parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None)}
    for op, argument in items:
        if op is parser.LITERAL:
            run.append(chr(argument))
            continue
        end_run()
        if op is parser.SUBPATTERN:
            _group, add_flags, del_flags, sub = argument
            if not (add_flags or del_flags):  # a local change of case is left out
                needs.extend(_requirements(sub, parser, usable))
        elif op is getattr(parser, "ATOMIC_GROUP", None):
            needs.extend(_requirements(argument, parser, usable))
        elif op in repeats:
            low, _high, sub = argument
            if low >= 1:
                needs.extend(_requirements(sub, parser, usable))
        elif op is parser.BRANCH:
            choices: list[str] = []
            for branch in argument[1]:
                texts = [
                    need[0] for need in _requirements(branch, parser, usable) if len(need) == 1
                ]
                if not texts:
                    break
                choices.append(max(texts, key=len))
            else:
                needs.append(tuple(dict.fromkeys(choices)))
    end_run()
    return needs


def required_literals(pattern: str, flags: int = 0) -> list[str]:
    """The single texts every match of *pattern* must contain (see `required_texts`)."""
    return [need[0] for need in required_texts(pattern, flags) if len(need) == 1]
