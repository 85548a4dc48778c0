"""One unit's run: a subprocess followed line by line, its steps, log and QA as events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.client.logs import LEVELS

from .config import QaRule
from .qafiles import QaCollector
from .steps import StepSpec, StepState, StepTracker

__all__ = ["LEVELS", "UnitOutcome", "UnitRun", "parse_level"]


_LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")
_LINE_LIMIT = 1 << 20
_MESSAGE_MAX = 16_384
_LAST_LINES = 20

Emit = Callable[[dict[str, Any]], None]


def parse_level(line: str, default: int = 20) -> int:
    """The level a log line states near its start (``INFO:...``, ``... ERROR ...``)."""
    match = _LEVEL.search(line, 0, 60)
    return LEVELS[match.group(1)] if match else default


@dataclass(slots=True)
class UnitOutcome:
    """How a unit ended."""

    status: str
    exit_status: int | None
    message: str | None
    last_lines: list[str]


@dataclass(slots=True)
class UnitRun:
    """Runs one unit and reports it.

    Parameters
    ----------
    processing
        The processing's key.
    unit
        The unit's name (``b0``).
    command
        The command, placeholders filled.
    steps
        The steps of the exposure's flavor.
    emit
        Where events go.
    output
        The unit's output folder (QA files are read there).
    qa_pattern
        Glob of QA files under *output*, placeholders filled; None reads none.
    rules
        The configuration's QA ranges.
    trend_keys
        ``(step, key)`` pairs kept although no step lists them.
    env
        Extra environment variables.
    timeout
        Seconds before the unit is killed.
    """

    processing: str
    unit: str
    command: list[str]
    steps: tuple[StepSpec, ...]
    emit: Emit
    output: Path
    qa_pattern: str | None = None
    rules: Mapping[str, QaRule] = field(default_factory=dict)
    trend_keys: tuple[tuple[str | None, str], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    tracker: StepTracker = field(init=False)
    collector: QaCollector = field(init=False)
    last_lines: deque[str] = field(init=False)
    process: asyncio.subprocess.Process | None = field(init=False, default=None)
    stopped: bool = field(init=False, default=False)
    _in_traceback: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.tracker = StepTracker(self.steps)
        self.collector = QaCollector(self.steps, self.rules, self.trend_keys)
        self.last_lines = deque(maxlen=_LAST_LINES)

    def _event(self, kind: str, **fields: Any) -> None:
        self.emit({"type": kind, "processing": self.processing, "unit": self.unit, **fields})

    def _collect_qa(self) -> None:
        if self.qa_pattern is None:
            return
        for event in self.collector.collect(self.output, self.qa_pattern):
            self._event("qa", **event)

    def _transitions(self, transitions: list[Any]) -> None:
        for transition in transitions:
            self._event("step", step=transition.step, state=transition.state.value)
            if transition.state is StepState.SUCCEEDED:
                self._collect_qa()

    def _line(self, raw: bytes, default_level: int, stream: str) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if len(line) > _MESSAGE_MAX:
            line = line[:_MESSAGE_MAX] + " [truncated]"
        if line.startswith("Traceback (most recent call last)"):
            self._in_traceback = True
        level = parse_level(line, 40 if self._in_traceback else default_level)
        if self._in_traceback and _EXCEPTION.match(line):
            self._in_traceback = False
        self.last_lines.append(line)
        transitions, checkpoint = self.tracker.feed(line)
        self._event("log", level=level, message=line, stream=stream, checkpoint=checkpoint)
        self._transitions(transitions)

    async def _read(self, reader: asyncio.StreamReader, default_level: int, stream: str) -> None:
        while True:
            try:
                raw = await reader.readline()
            except ValueError:  # a line longer than the limit: take it in pieces
                raw = await reader.read(_LINE_LIMIT)
            if not raw:
                return
            self._line(raw, default_level, stream)

    def stop(self) -> None:
        """Terminate the unit (the pipeline was stopped)."""
        self.stopped = True
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    async def run(self) -> UnitOutcome:
        """Run the unit to its end and report it; never raises for the unit's failures."""
        self.output.mkdir(parents=True, exist_ok=True)
        self._event("unit_started", command=self.command)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                cwd=self.output,
                limit=_LINE_LIMIT,
            )
        except (FileNotFoundError, PermissionError, OSError) as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            message = f"cannot start {self.command[0]!r}: {exc.strerror or exc}"
            self._event("log", level=40, message=message, stream="monitor", checkpoint=None)
            return self._finish(code, message)
        process = self.process
        assert process.stdout is not None and process.stderr is not None
        readers = asyncio.gather(
            self._read(process.stdout, 20, "stdout"), self._read(process.stderr, 20, "stderr")
        )
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(readers), self.timeout)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await readers
        exit_status = await process.wait()
        reason: str | None = None
        if timed_out:
            reason = f"killed after {self.timeout:g} s (run.timeout)"
        elif self.stopped:
            reason = "stopped"
        return self._finish(exit_status, reason)

    def _finish(self, exit_status: int | None, message: str | None) -> UnitOutcome:
        self._transitions(self.tracker.finish(exit_status))
        self._collect_qa()
        if self.stopped:
            status = "stopped"
        elif (
            exit_status == 0
            and all(
                s in (StepState.SUCCEEDED, StepState.SKIPPED) for s in self.tracker.states.values()
            )
            and any(s is StepState.SUCCEEDED for s in self.tracker.states.values())
        ):
            status = "succeeded"
        else:
            status = "failed"
        if status == "failed" and message is None:
            message = self._reason(exit_status)
        outcome = UnitOutcome(status, exit_status, message, list(self.last_lines))
        self._event(
            "unit_ended",
            status=status,
            exit_status=exit_status,
            message=message,
            last_lines=outcome.last_lines,
        )
        return outcome

    def _reason(self, exit_status: int | None) -> str:
        exception = next(
            (line for line in reversed(self.last_lines) if _EXCEPTION.match(line)), None
        )
        if exit_status is not None and exit_status < 0:
            head = f"killed by signal {-exit_status}"
        elif exit_status:
            head = f"exit status {exit_status}"
        else:
            unfinished = [n for n, s in self.tracker.states.items() if s is StepState.FAILED]
            head = (
                f"exit status 0 but step {unfinished[0]} never logged its end"
                if unfinished
                else "no step ran"
            )
        return f"{head}: {exception}" if exception else head
