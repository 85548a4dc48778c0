"""The monitor's runner: each new exposure, its units in parallel, reported live.

Three loops run side by side, so none waits for another:

- *discovery* looks for new exposures (a new file in the watched folder, or one claimed
  from the server's queue) and reports each one at once, then queues it for processing;
  a file that must settle is looked at again as soon as its settle time is over;
- *control* asks the server for the pipeline's wanted state every `CONTROL_SECONDS`
  (and sends a heartbeat every `HEARTBEAT_SECONDS`): a stop from the server terminates
  the running units' process groups within a second, even while they print nothing;
- *processing* takes the queued exposures in the order they arrived. A processing
  starts when one of the ``run.max_parallel`` unit slots is free and the previous
  processing started all its units; each unit takes a slot, in order, and gives it back
  when it ends. So exposures start in order, several may run at once, and a hung unit
  holds one slot (until ``run.timeout`` ends its process group), never the queue.

Every unit's command runs in its own process group; its output is followed line by line
(steps from the log markers, QA files read as steps end) and its exit status recorded. A
unit that cannot start or crashes is marked failed, one that hangs past ``run.timeout``
killed, with its exit status and last lines; the others go on. While the pipeline is
stopped from the server, running units are terminated and new exposures are only
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.client.errors import ClientError

from .config import MonitorConfig
from .discovery import FolderWatcher
from .errors import MonitorError
from .header import Exposure, read_exposure
from .reporter import EventReporter
from .unit import UnitOutcome, UnitRun

__all__ = ["ProcessingResult", "Runner"]

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
"""Seconds between two heartbeats of the runner."""
CONTROL_SECONDS = 0.5
"""Seconds between two questions to the server about the pipeline's wanted state."""


@dataclass(slots=True)
class ProcessingResult:
    """What one processing did."""

    key: str
    exposure: str
    status: str
    units: dict[str, UnitOutcome] = field(default_factory=dict)


def _format(template: str, values: dict[str, str]) -> str:
    return template.format(**values)


class Runner:
    """Runs the monitored pipeline on each new exposure.

    Parameters
    ----------
    config
        The monitor configuration.
    reporter
        Where events go (started by the caller).
    on_processed
        Called after each processing.
    """

    def __init__(
        self,
        config: MonitorConfig,
        reporter: EventReporter,
        *,
        on_processed: Callable[[ProcessingResult], None] | None = None,
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.on_processed = on_processed
        self.state = "running"
        self.results: list[ProcessingResult] = []
        self._units: list[UnitRun] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._queue: asyncio.Queue[Exposure | None] | None = None
        self._processings: set[asyncio.Task[ProcessingResult]] = set()
        self._polled = False
        self._watcher = FolderWatcher(config.exposures)
        trend_keys: list[tuple[str | None, str]] = [
            (t.step, t.key) for t in config.trends if t.step is not None
        ]
        # The layout's fibre state is a QA value no step lists: kept like a trend's.
        fibres = config.layout.fibres if config.layout is not None else None
        if fibres is not None:
            trend_keys.append((None, fibres.key))
        self._trend_keys: tuple[tuple[str | None, str], ...] = tuple(trend_keys)
        reporter.on_answer = self._on_answer

    # Control ------------------------------------------------------------------------

    def _on_answer(self, answer: dict[str, Any]) -> None:
        if self._polled:  # the control loop asks the server itself, more recently
            return
        control = answer.get("control")
        state = control.get(self.config.pipeline) if isinstance(control, dict) else None
        if state not in ("running", "stopped"):
            return
        # The reporter's thread learns the state: apply it on the runner's loop.
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.set_state, str(state))
        else:
            self.set_state(str(state))

    def set_state(self, state: str) -> None:
        """Run or stop the pipeline; stopping terminates the running units' process groups."""
        if state == self.state:
            return
        logger.info("Pipeline %s: %s", self.config.pipeline, state)
        self.state = state
        if state == "stopped":
            for unit in list(self._units):
                unit.stop()

    def _wanted_state(self) -> str | None:
        """The pipeline's state as the server wants it (None: not known now)."""
        client = self.reporter.client
        if client is None:
            return None
        try:
            answer = client.get(f"/api/monitor/pipelines/{self.config.pipeline}")
        except ClientError:  # not announced yet, or the server is away: ask again later
            return None
        state = answer.get("desired_state") if answer else None
        return str(state) if state in ("running", "stopped") else None

    async def _control(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last_beat = float("-inf")
        while not stop.is_set():
            if loop.time() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = loop.time()
                self.reporter.emit({"type": "heartbeat", "pipeline": self.config.pipeline})
            state = await asyncio.to_thread(self._wanted_state)
            if state is not None and not stop.is_set():
                self._polled = True
                self.set_state(state)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CONTROL_SECONDS)

    def announce(self) -> None:
        """Tell the server about this pipeline (units, steps per flavor, trends)."""
        self.reporter.emit(
            {
                "type": "pipeline",
                "pipeline": self.config.pipeline,
                "description": {
                    **self.config.describe(),
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "source": self.reporter.source,
                },
            }
        )

    # Discovery ----------------------------------------------------------------------

    def _claim(self) -> list[Exposure]:
        client = self.reporter.client
        if client is None:
            return []
        try:
            answer = client.post_to(
                f"/api/monitor/pipelines/{self.config.pipeline}/claim", {"limit": 1}
            )
        except ClientError as exc:
            logger.warning("Cannot claim an exposure: %s", exc.message)
            return []
        if not answer:
            return []
        claimed = []
        for item in answer.get("items", []):
            claimed.append(
                Exposure(
                    exposure=str(item["exposure"]),
                    path=item.get("path"),
                    night=item.get("night"),
                    flavor=item.get("flavor"),
                    program=item.get("program"),
                    header=item.get("header") or {},
                )
            )
        return claimed

    def discover(self) -> list[Exposure]:
        """Exposures that appeared since the last call."""
        if self.config.exposures.kind == "api":
            # Claim only what can start soon: queued exposures stay free for other runners.
            if self._queue is not None and not self._queue.empty():
                return []
            return self._claim()
        exposures = []
        for path in self._watcher.scan():
            try:
                exposures.append(read_exposure(path, self.config.header))
            except MonitorError as exc:
                logger.error("%s", exc.message)
        return exposures

    def record(self, exposure: Exposure) -> None:
        """Report *exposure* to the server (at once, whatever its processing)."""
        self.reporter.emit(
            {"type": "exposure", "pipeline": self.config.pipeline, **exposure.to_event()}
        )

    async def _discover(
        self, stop: asyncio.Event, queue: asyncio.Queue[Exposure | None], limit: int | None
    ) -> None:
        seen = 0
        while not stop.is_set():
            for exposure in await asyncio.to_thread(self.discover):
                self.record(exposure)
                queue.put_nowait(exposure)
                seen += 1
                if limit is not None and seen >= limit:
                    queue.put_nowait(None)
                    return
            wait = self._watcher.next_look(self.config.exposures.poll_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    # Processing ---------------------------------------------------------------------

    def _values(self, exposure: Exposure) -> dict[str, str]:
        values = {
            "pipeline": self.config.pipeline,
            "workdir": str(self.config.run.workdir),
            "unit": "",
            "output": "",
            **exposure.placeholders(),
        }
        return values

    def _slots_now(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.run.max_parallel)
        return self._slots

    async def process(self, exposure: Exposure) -> ProcessingResult | None:
        """Report *exposure* and, if its flavor is monitored and the pipeline runs, process
        it to its end."""
        self.record(exposure)
        task = await self._start(exposure)
        return None if task is None else await task

    async def _start(
        self, exposure: Exposure, stop: asyncio.Event | None = None
    ) -> asyncio.Task[ProcessingResult] | None:
        """Start the units of *exposure*'s processing, in order, as slots free up; the
        task that ends the processing (None: the exposure is only recorded)."""
        flavor = self.config.flavor_key(exposure.flavor)
        if flavor is None:
            logger.info(
                "Exposure %s: flavor %r has no steps in the configuration; recorded only.",
                exposure.exposure,
                exposure.flavor,
            )
            return None
        slots = self._slots_now()
        if not await self._first_slot(slots, stop):
            logger.info("Exposure %s recorded; the runner is ending.", exposure.exposure)
            return None
        if self.state == "stopped":
            slots.release()
            logger.info("Exposure %s recorded; the pipeline is stopped.", exposure.exposure)
            return None
        steps = self.config.flavors[flavor]
        key = uuid.uuid4().hex
        result = ProcessingResult(key=key, exposure=exposure.exposure, status="running")
        self.results.append(result)
        values = self._values(exposure)
        self.reporter.emit(
            {
                "type": "processing_started",
                "pipeline": self.config.pipeline,
                "processing": key,
                "exposure": exposure.exposure,
                "flavor": exposure.flavor,
                "units": list(self.config.units),
                "steps": self.config.describe()["flavors"][flavor],
                # Where the units write (the server may clear their reduction files).
                "outputs": {
                    unit: os.path.abspath(_format(self.config.run.output, {**values, "unit": unit}))
                    for unit in self.config.units
                },
            }
        )
        tasks = []
        for index, unit in enumerate(self.config.units):
            if index:
                await slots.acquire()
            tasks.append(asyncio.create_task(self._unit(result, unit, steps, values)))
        return asyncio.create_task(self._end(result, tasks))

    @staticmethod
    async def _first_slot(slots: asyncio.Semaphore, stop: asyncio.Event | None) -> bool:
        """Take a unit slot; False (and no slot) if *stop* is set first."""
        if stop is None:
            await slots.acquire()
            return True
        acquire = asyncio.ensure_future(slots.acquire())
        halt = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({acquire, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.cancel()
        if not acquire.done():
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
        if acquire.done() and not acquire.cancelled():
            if not stop.is_set():
                return True
            slots.release()
        return False

    async def _unit(
        self, result: ProcessingResult, unit: str, steps: Any, values: dict[str, str]
    ) -> None:
        """Run one unit in the slot it was given."""
        slots = self._slots_now()
        try:
            if self.state == "stopped":
                result.units[unit] = UnitOutcome("stopped", None, "stopped", [])
                self.reporter.emit(
                    {
                        "type": "unit_ended",
                        "processing": result.key,
                        "unit": unit,
                        "status": "stopped",
                        "exit_status": None,
                        "message": "the pipeline was stopped before this unit started",
                        "last_lines": [],
                    }
                )
                return
            unit_values = {**values, "unit": unit}
            output = Path(_format(self.config.run.output, unit_values))
            unit_values["output"] = str(output)
            run = UnitRun(
                processing=result.key,
                unit=unit,
                command=[_format(part, unit_values) for part in self.config.run.command],
                steps=steps,
                emit=self.reporter.emit,
                emit_many=self.reporter.emit_many,
                output=output,
                qa_pattern=(
                    _format(self.config.run.qa_files, unit_values)
                    if self.config.run.qa_files
                    else None
                ),
                rules=self.config.qa,
                trend_keys=self._trend_keys,
                env=self.config.run.env,
                timeout=self.config.run.timeout,
            )
            self._units.append(run)
            try:
                result.units[unit] = await run.run()
            finally:
                self._units.remove(run)
        finally:
            slots.release()

    async def _end(
        self, result: ProcessingResult, tasks: list[asyncio.Task[None]]
    ) -> ProcessingResult:
        await asyncio.gather(*tasks)
        # The configuration's order, whatever order the units ended in.
        result.units = {
            unit: result.units[unit] for unit in self.config.units if unit in result.units
        }
        statuses = {outcome.status for outcome in result.units.values()}
        if "stopped" in statuses:
            result.status = "stopped"
        elif statuses & {"failed", "killed"}:
            # A unit killed on its timeout failed: so did its processing.
            result.status = "failed"
        else:
            result.status = "succeeded"
        self.reporter.emit(
            {"type": "processing_ended", "processing": result.key, "status": result.status}
        )
        if self.on_processed is not None:
            self.on_processed(result)
        return result

    async def _process(self, stop: asyncio.Event, queue: asyncio.Queue[Exposure | None]) -> None:
        """Start the queued exposures' processings in order until *stop* or the last one."""
        while not stop.is_set():
            get = asyncio.ensure_future(queue.get())
            halt = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({get, halt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                halt.cancel()
                if not get.done():
                    get.cancel()
            if not get.done() or get.cancelled():
                return
            exposure = get.result()
            if exposure is None:
                return
            task = await self._start(exposure, stop)
            if task is not None:
                self._processings.add(task)
                task.add_done_callback(self._processings.discard)

    async def run(
        self, *, stop: asyncio.Event | None = None, max_exposures: int | None = None
    ) -> list[ProcessingResult]:
        """Watch for exposures and process them until *stop* is set.

        Parameters
        ----------
        stop
            Set it to end the loop (after the processings under way).
        max_exposures
            End after this many exposures were discovered (and processed).
        """
        stop = stop or asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._slots_now()
        queue: asyncio.Queue[Exposure | None] = asyncio.Queue()
        self._queue = queue
        self.announce()
        loops = [
            asyncio.create_task(self._control(stop)),
            asyncio.create_task(self._discover(stop, queue, max_exposures)),
        ]
        ended = False
        try:
            await self._process(stop, queue)
            # The control loop goes on meanwhile: a stop still reaches these units.
            if self._processings:
                await asyncio.gather(*self._processings)
            ended = True
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if not ended:  # interrupted: the units end with the runner
                for unit in list(self._units):
                    unit.stop()
                if self._processings:
                    await asyncio.gather(*self._processings, return_exceptions=True)
        return self.results
