"""The monitor's runner: each new exposure, its units in parallel, reported live.

For every exposure discovered (a new file in the watched folder, or one claimed from the
server's queue) the runner reports the exposure, and, when its flavor has steps, starts a
processing: every unit's command runs (at most ``run.max_parallel`` at a time), its
output is followed line by line (steps from the log markers, QA files read as steps end)
and its exit status recorded. A unit that cannot start or crashes is marked failed with
its exit status and last lines; the others go on. Exposures are processed one after the
other, in the order they arrive. While the pipeline is stopped from the server, running
units are terminated and new exposures are only recorded.
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
        self._watcher = FolderWatcher(config.exposures)
        self._trend_keys = tuple((t.step, t.key) for t in config.trends if t.step is not None)
        reporter.on_answer = self._on_answer

    # Control ------------------------------------------------------------------------

    def _on_answer(self, answer: dict[str, Any]) -> None:
        control = answer.get("control")
        state = control.get(self.config.pipeline) if isinstance(control, dict) else None
        if state in ("running", "stopped"):
            self.set_state(str(state))

    def set_state(self, state: str) -> None:
        """Run or stop the pipeline; stopping terminates the running units."""
        if state == self.state:
            return
        logger.info("Pipeline %s: %s", self.config.pipeline, state)
        self.state = state
        if state == "stopped":
            for unit in list(self._units):
                # The reporter's thread learns the state: stop the units on their loop.
                if self._loop is not None and self._loop.is_running():
                    self._loop.call_soon_threadsafe(unit.stop)
                else:
                    unit.stop()

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
            return self._claim()
        exposures = []
        for path in self._watcher.scan():
            try:
                exposures.append(read_exposure(path, self.config.header))
            except MonitorError as exc:
                logger.error("%s", exc.message)
        return exposures

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

    async def process(self, exposure: Exposure) -> ProcessingResult | None:
        """Report *exposure* and, if its flavor is monitored and the pipeline runs, process it."""
        self.reporter.emit(
            {"type": "exposure", "pipeline": self.config.pipeline, **exposure.to_event()}
        )
        flavor = self.config.flavor_key(exposure.flavor)
        if flavor is None:
            logger.info(
                "Exposure %s: flavor %r has no steps in the configuration; recorded only.",
                exposure.exposure,
                exposure.flavor,
            )
            return None
        steps = self.config.flavors[flavor]
        if self.state == "stopped":
            logger.info("Exposure %s recorded; the pipeline is stopped.", exposure.exposure)
            return None
        key = uuid.uuid4().hex
        result = ProcessingResult(key=key, exposure=exposure.exposure, status="running")
        self.reporter.emit(
            {
                "type": "processing_started",
                "pipeline": self.config.pipeline,
                "processing": key,
                "exposure": exposure.exposure,
                "flavor": exposure.flavor,
                "units": list(self.config.units),
                "steps": self.config.describe()["flavors"][flavor],
            }
        )
        semaphore = asyncio.Semaphore(self.config.run.max_parallel)
        values = self._values(exposure)

        async def one(unit: str) -> None:
            async with semaphore:
                if self.state == "stopped":
                    result.units[unit] = UnitOutcome("stopped", None, "stopped", [])
                    self.reporter.emit(
                        {
                            "type": "unit_ended",
                            "processing": key,
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
                    processing=key,
                    unit=unit,
                    command=[_format(part, unit_values) for part in self.config.run.command],
                    steps=steps,
                    emit=self.reporter.emit,
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

        await asyncio.gather(*(one(unit) for unit in self.config.units))
        statuses = {outcome.status for outcome in result.units.values()}
        if "stopped" in statuses:
            result.status = "stopped"
        elif "failed" in statuses:
            result.status = "failed"
        else:
            result.status = "succeeded"
        self.reporter.emit({"type": "processing_ended", "processing": key, "status": result.status})
        self.results.append(result)
        if self.on_processed is not None:
            self.on_processed(result)
        return result

    async def run(
        self, *, stop: asyncio.Event | None = None, max_exposures: int | None = None
    ) -> list[ProcessingResult]:
        """Watch for exposures and process them until *stop* is set.

        Parameters
        ----------
        stop
            Set it to end the loop (after the processing under way).
        max_exposures
            End after this many exposures were discovered.
        """
        stop = stop or asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.announce()
        seen = 0
        last_beat = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                self.reporter.emit({"type": "heartbeat", "pipeline": self.config.pipeline})
            exposures = await asyncio.to_thread(self.discover)
            for exposure in exposures:
                await self.process(exposure)
                seen += 1
                if max_exposures is not None and seen >= max_exposures:
                    return self.results
                if stop.is_set():
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.exposures.poll_interval)
        return self.results
