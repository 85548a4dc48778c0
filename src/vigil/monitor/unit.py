"""One unit's run: a subprocess in its own process group, its output read in large chunks
and split into lines, its steps, log and QA reported as events.

The command runs in a new session, so the unit is its whole process group: a shell script
and the programs it starts. The group is ended when the unit times out (the unit ends
"killed", a failure, with the signal's exit status), when it is stopped, when the runner
is cancelled (Ctrl-C), when the command exited but a program it left behind still holds its
output open after `DRAIN_SECONDS`, and when the unit ends (what it left behind goes with
it). Ending is SIGTERM, then SIGKILL once the command exited and its output closed, or
after `KILL_GRACE` seconds; then our side of the pipes is closed, so nothing the unit
left can keep it "running".

The output is read as the event loop receives it, in chunks of up to 256 KiB, and split
into lines in one pass: a flooding unit is read as fast as it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.client.logs import LEVELS

from .config import QaRule
from .qafiles import QaCollector
from .steps import StepSpec, StepState, StepTracker

__all__ = ["DRAIN_SECONDS", "KILL_GRACE", "LEVELS", "UnitOutcome", "UnitRun", "parse_level"]


_LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")
_LINE_LIMIT = 1 << 20
_MESSAGE_MAX = 16_384
_LAST_LINES = 20

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL to a unit's process group."""
DRAIN_SECONDS = 1.0
"""Seconds the output of an exited command may stay open (a program it left behind)
before its process group is ended."""

Emit = Callable[[dict[str, Any]], None]


def parse_level(line: str, default: int = 20) -> int:
    """The level a log line states near its start (``INFO:...``, ``... ERROR ...``)."""
    match = _LEVEL.search(line, 0, 60)
    return LEVELS[match.group(1)] if match else default


@dataclass(slots=True)
class UnitOutcome:
    """How a unit ended: ``succeeded``, ``failed``, ``killed`` (ended on its timeout, a
    failure) or ``stopped``."""

    status: str
    exit_status: int | None
    message: str | None
    last_lines: list[str]


class _Pipes(asyncio.SubprocessProtocol):
    """Hands the unit's output to it chunk by chunk, as the event loop reads it."""

    def __init__(self, unit: UnitRun, loop: asyncio.AbstractEventLoop) -> None:
        self.unit = unit
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: dict[int, asyncio.Future[None]] = {
            1: loop.create_future(),
            2: loop.create_future(),
        }

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.unit._chunk(fd, data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.unit._end_of_stream(fd)
        future = self.closed.get(fd)
        if future is not None and not future.done():
            future.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


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
        Seconds before the unit's process group is ended.
    emit_many
        Where the lines read together go at once (default: *emit*, one by one).
    kill_grace
        Seconds between SIGTERM and SIGKILL.
    drain
        Seconds the output may stay open after the command exited.
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
    emit_many: Callable[[list[dict[str, Any]]], None] | None = None
    kill_grace: float = KILL_GRACE
    drain: float = DRAIN_SECONDS
    tracker: StepTracker = field(init=False)
    collector: QaCollector = field(init=False)
    last_lines: deque[str] = field(init=False)
    pid: int | None = field(init=False, default=None)
    stopped: bool = field(init=False, default=False)
    timed_out: bool = field(init=False, default=False)
    _transport: asyncio.SubprocessTransport | None = field(init=False, default=None)
    _pipes: _Pipes | None = field(init=False, default=None)
    _stop: asyncio.Event = field(init=False)
    _partial: dict[int, bytes] = field(init=False)
    _in_traceback: bool = field(init=False, default=False)
    _group_gone: bool = field(init=False, default=False)
    _markers: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tracker = StepTracker(self.steps)
        # Only a line holding a step's marker can move a step: the others skip the tracker.
        markers = sorted({m for s in self.steps for m in (s.start, s.end) if m}, key=len)
        if markers:
            self._markers = re.compile("|".join(re.escape(m) for m in reversed(markers)))
        self.collector = QaCollector(self.steps, self.rules, self.trend_keys)
        self.last_lines = deque(maxlen=_LAST_LINES)
        self._stop = asyncio.Event()
        self._partial = {1: b"", 2: b""}

    @property
    def running(self) -> bool:
        """Whether the unit's command was started and has not exited yet."""
        return self._transport is not None and self._transport.get_returncode() is None

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

    # Output -------------------------------------------------------------------------

    def _chunk(self, fd: int, data: bytes) -> None:
        """Split what was read into lines (the last, unfinished one waits for the next)."""
        buffer = self._partial[fd] + data if self._partial[fd] else data
        end = buffer.rfind(b"\n")
        if end < 0:
            if len(buffer) >= _LINE_LIMIT:  # a line longer than the limit: take it in pieces
                self._lines(fd, buffer.decode("utf-8", errors="replace"))
                buffer = b""
            self._partial[fd] = buffer
            return
        self._partial[fd] = buffer[end + 1 :]
        self._lines(fd, buffer[:end].decode("utf-8", errors="replace"))

    def _end_of_stream(self, fd: int) -> None:
        rest = self._partial.get(fd, b"")
        self._partial[fd] = b""
        if rest:
            self._lines(fd, rest.decode("utf-8", errors="replace"))

    def _lines(self, fd: int, text: str) -> None:
        # Lines read together were read at the same time: one timestamp for them all.
        now = datetime.now(UTC).isoformat()
        stream = "stdout" if fd == 1 else "stderr"
        processing, unit = self.processing, self.unit
        feed, keep = self.tracker.feed, self.last_lines.append
        marked = self._markers.search if self._markers is not None else None
        lines: list[dict[str, Any]] = []
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line.rstrip("\r")
            if len(line) > _MESSAGE_MAX:
                line = line[:_MESSAGE_MAX] + " [truncated]"
            if line.startswith("Traceback (most recent call last)"):
                self._in_traceback = True
            level = parse_level(line, 40 if self._in_traceback else 20)
            if self._in_traceback and _EXCEPTION.match(line):
                self._in_traceback = False
            keep(line)
            transitions, checkpoint = (
                feed(line) if marked is not None and marked(line) else ((), None)
            )
            lines.append(
                {
                    "type": "log",
                    "processing": processing,
                    "unit": unit,
                    "level": level,
                    "message": line,
                    "stream": stream,
                    "checkpoint": checkpoint,
                    "time": now,
                }
            )
            if transitions:
                # A step's event comes after the line that moved it.
                self._send_lines(lines)
                lines = []
                self._transitions(list(transitions))
        self._send_lines(lines)

    def _send_lines(self, lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        if self.emit_many is not None:
            self.emit_many(lines)
        else:
            for line in lines:
                self.emit(line)

    # Ending the process group -------------------------------------------------------

    def stop(self) -> None:
        """Terminate the unit's process group (the pipeline was stopped)."""
        self.stopped = True
        self._stop.set()

    def _signal_group(self, sig: int) -> bool:
        """Send *sig* to the unit's process group; False when the group is gone."""
        if self.pid is None or self._group_gone:
            return False
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            # Once gone, never signalled again: its number may be given to another group.
            self._group_gone = True
            return False
        return True

    async def _end_group(self) -> None:
        """SIGTERM the process group; SIGKILL it once the command exited and its output
        closed, or after the grace, whichever comes first (what is left then is killed)."""
        if not self._signal_group(signal.SIGTERM):
            return
        if self._pipes is not None:
            pipes = self._pipes
            ended = asyncio.gather(pipes.exited, *pipes.closed.values())
            with contextlib.suppress(TimeoutError):
                # Shielded: the futures outlive the wait.
                await asyncio.wait_for(asyncio.shield(ended), self.kill_grace)
        self._signal_group(signal.SIGKILL)

    def _close_pipes(self) -> None:
        """Close our side of the pipes: a program still holding them cannot keep us."""
        if self._transport is None:
            return
        for fd in (1, 2):
            pipe = self._transport.get_pipe_transport(fd)
            if pipe is not None:
                pipe.close()

    # Running ------------------------------------------------------------------------

    async def run(self) -> UnitOutcome:
        """Run the unit to its end and report it; never raises for the unit's failures."""
        self.output.mkdir(parents=True, exist_ok=True)
        self._event("unit_started", command=self.command)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        loop = asyncio.get_running_loop()
        try:
            transport, pipes = await loop.subprocess_exec(
                lambda: _Pipes(self, loop),
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=self.output,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError, OSError) as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            message = f"cannot start {self.command[0]!r}: {exc.strerror or exc}"
            self._event("log", level=40, message=message, stream="monitor", checkpoint=None)
            return self._finish(code, message)
        self._transport = transport
        self._pipes = pipes
        self.pid = transport.get_pid()
        try:
            reason = await self._follow(pipes)
            # What the command left behind in its group ends with the unit.
            await self._end_group()
        except asyncio.CancelledError:
            # The runner is interrupted (Ctrl-C): the unit's programs end with it.
            self.stopped = True
            await self._end_group()
            self._close_pipes()
            transport.close()
            raise
        finally:
            self._signal_group(signal.SIGKILL)
        self._close_pipes()
        exit_status = transport.get_returncode()
        transport.close()
        return self._finish(exit_status, reason)

    async def _follow(self, pipes: _Pipes) -> str | None:
        """Wait for the command's end (or its timeout, or a stop); the reason it was ended."""
        stop: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        exited: asyncio.Future[Any] = pipes.exited
        reason: str | None = None
        try:
            done, _ = await asyncio.wait(
                {exited, stop}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not pipes.exited.done():
                if stop in done:
                    reason = "stopped"
                else:
                    self.timed_out = True
                    reason = f"killed after {self.timeout:g} s (run.timeout)"
                await self._end_group()
                await pipes.exited
            elif self.stopped:
                reason = "stopped"
        finally:
            stop.cancel()
        # The command exited: what it wrote is read to its end, unless a program it
        # left behind keeps the output open.
        streams = asyncio.gather(*pipes.closed.values())
        try:
            await asyncio.wait_for(asyncio.shield(streams), self.drain)
        except TimeoutError:
            await self._end_group()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(streams), self.drain)
            if reason is None:
                reason = "a program it started kept its output open: its process group was ended"
        return reason

    def _finish(self, exit_status: int | None, message: str | None) -> UnitOutcome:
        self._transitions(self.tracker.finish(exit_status))
        self._collect_qa()
        if self.stopped:
            status = "stopped"
        elif self.timed_out:
            status = "killed"
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
        if status in ("failed", "killed") and message is None:
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
