"""Event batches as a runner sends them, for tests that drive the API directly."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

STEPS = [
    {
        "name": "CHECK_CCDs",
        "display_name": "CHECK CCDS",
        "start": "Starting to run step Initialize",
        "end": "Starting to run step Flexure",
        "qa": [{"key": "NOISE_AMP", "display_name": "Noise AMP"}],
    },
    {
        "name": "CHECK_FIBERS",
        "display_name": "CHECK FIBERS",
        "start": "Starting to run step Flexure",
        "end": "Pipeline completed",
        "qa": [{"key": "NGOODFIB", "display_name": "NGOODFIB"}],
    },
]

_clock = itertools.count()


def now(offset: float = 0.0) -> str:
    """An increasing timestamp (ISO 8601)."""
    base = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    return (base + timedelta(seconds=next(_clock) + offset)).isoformat()


class Runner:
    """Builds the events of a fake runner and numbers its batches."""

    def __init__(self, pipeline: str = "ql") -> None:
        self.pipeline = pipeline
        self.source = uuid.uuid4().hex
        self.sequence = 0

    def batch(self, events: list[dict[str, Any]], sequence: int | None = None) -> dict[str, Any]:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        return {"source": self.source, "sequence": sequence, "events": events}

    def exposure(self, exposure: str, **values: Any) -> dict[str, Any]:
        return {
            "type": "exposure",
            "time": now(),
            "pipeline": self.pipeline,
            "exposure": exposure,
            **values,
        }

    def processing(
        self,
        exposure: str,
        units: list[str],
        *,
        flavor: str = "science",
        qa: dict[tuple[str, str], tuple[str, float]] | None = None,
        fail: dict[str, int] | None = None,
        lines: dict[str, list[str]] | None = None,
        end: bool = True,
        **exposure_values: Any,
    ) -> tuple[str, list[dict[str, Any]]]:
        """A whole processing: every unit walks both steps unless it fails.

        ``qa[(unit, key)] = (status, value)``; ``fail[unit] = exit status`` (fails in the
        second step); ``lines[unit]`` extra log lines.
        """
        key = uuid.uuid4().hex
        qa = qa or {}
        fail = fail or {}
        events: list[dict[str, Any]] = [
            self.exposure(exposure, flavor=flavor, **exposure_values),
            {
                "type": "processing_started",
                "time": now(),
                "pipeline": self.pipeline,
                "processing": key,
                "exposure": exposure,
                "flavor": flavor,
                "units": units,
                "steps": STEPS,
            },
        ]
        for unit in units:
            base = {"processing": key, "unit": unit}
            events.append({"type": "unit_started", "time": now(), **base, "command": ["ql", unit]})
            events.append(
                {
                    "type": "log",
                    "time": now(),
                    **base,
                    "level": 20,
                    "message": "INFO: Starting to run step Initialize",
                    "checkpoint": "CHECK_CCDs",
                }
            )
            events.append(
                {"type": "step", "time": now(), **base, "step": "CHECK_CCDs", "state": "running"}
            )
            status, value = qa.get((unit, "NOISE_AMP"), ("normal", 3.5))
            events.append(
                {
                    "type": "qa",
                    "time": now(),
                    **base,
                    "step": "CHECK_CCDs",
                    "key": "NOISE_AMP",
                    "display_name": "Noise AMP",
                    "status": status,
                    "value": value,
                    "values": [value, value, value, value],
                    "statuses": [status] * 4,
                    "normal": [-0.5, 0.5],
                    "warning": [-1, 1],
                    "reference": 3.5,
                }
            )
            events.append(
                {"type": "step", "time": now(), **base, "step": "CHECK_CCDs", "state": "succeeded"}
            )
            events.append(
                {"type": "step", "time": now(), **base, "step": "CHECK_FIBERS", "state": "running"}
            )
            for message in (lines or {}).get(unit, []):
                events.append(
                    {
                        "type": "log",
                        "time": now(),
                        **base,
                        "level": 40 if "Error" in message else 20,
                        "message": message,
                    }
                )
            if unit in fail:
                events.append(
                    {
                        "type": "step",
                        "time": now(),
                        **base,
                        "step": "CHECK_FIBERS",
                        "state": "failed",
                    }
                )
                events.append(
                    {
                        "type": "unit_ended",
                        "time": now(),
                        **base,
                        "status": "failed",
                        "exit_status": fail[unit],
                        "message": f"exit status {fail[unit]}: ValueError: boom",
                        "last_lines": ["Traceback (most recent call last):", "ValueError: boom"],
                    }
                )
                continue
            status, value = qa.get((unit, "NGOODFIB"), ("normal", 497.0))
            events.append(
                {
                    "type": "qa",
                    "time": now(),
                    **base,
                    "step": "CHECK_FIBERS",
                    "key": "NGOODFIB",
                    "status": status,
                    "value": value,
                    "values": [value],
                    "statuses": [status],
                    "normal": [-5, 5],
                    "warning": [-10, 10],
                    "reference": 497,
                }
            )
            events.append(
                {
                    "type": "log",
                    "time": now(),
                    **base,
                    "level": 20,
                    "message": "INFO: Pipeline completed",
                    "checkpoint": "CHECK_FIBERS",
                }
            )
            events.append(
                {
                    "type": "step",
                    "time": now(),
                    **base,
                    "step": "CHECK_FIBERS",
                    "state": "succeeded",
                }
            )
            events.append(
                {
                    "type": "unit_ended",
                    "time": now(),
                    **base,
                    "status": "succeeded",
                    "exit_status": 0,
                }
            )
        if end:
            events.append(
                {
                    "type": "processing_ended",
                    "time": now(),
                    "processing": key,
                    "status": "failed" if fail else "succeeded",
                }
            )
        return key, events
