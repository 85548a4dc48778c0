"""A finished processing's QA values as a job, so that regression detection applies."""

from __future__ import annotations

import re
from typing import Any

from ..domain import ProcessingSummary, QaValue

__all__ = ["qa_job_payload", "qa_package"]

_METRIC_PACKAGE = re.compile(r"[^A-Za-z0-9_]")
_MAX_ELEMENTS = 16
_AMPLIFIERS = "ABCD"


def qa_package(pipeline: str) -> str:
    """The package of a pipeline's QA metrics (what subscriptions filter on)."""
    return _METRIC_PACKAGE.sub("_", pipeline) or "monitor"


def qa_job_payload(summary: ProcessingSummary, values: list[QaValue]) -> dict[str, Any] | None:
    """The job document of a processing's QA values (None when it has none).

    One measurement per unit and key, or per unit, key and element of a value of up to 16
    elements (``amplifier`` A-D for a ``*_AMP`` key of four).
    """
    package = qa_package(summary.pipeline)
    measurements = []
    for qa in values:
        metric = f"{package}.{qa.key}"
        elements = qa.values if 1 < len(qa.values) <= _MAX_ELEMENTS else []
        if not elements:
            measurements.append(
                {"metric": metric, "value": qa.value, "unit": "", "data_id": {"unit": qa.unit}}
            )
            continue
        per_amp = qa.key.endswith("_AMP") and len(elements) == len(_AMPLIFIERS)
        for i, value in enumerate(elements):
            data_id: dict[str, Any] = {"unit": qa.unit}
            if per_amp:
                data_id["amplifier"] = _AMPLIFIERS[i]
            else:
                data_id["element"] = i
            measurements.append({"metric": metric, "value": value, "unit": "", "data_id": data_id})
    if not measurements:
        return None
    time = summary.observed_at or summary.started_at
    return {
        "identifier": f"monitor-{summary.key}",
        "measurements": measurements,
        "blobs": [],
        "metrics": [],
        "specs": [],
        "meta": {
            "dataset": f"{summary.pipeline}:{summary.flavor or 'unknown'}",
            "instrument": summary.pipeline,
            "date": time.isoformat(),
            "exposure": summary.exposure,
            "night": summary.night,
            "flavor": summary.flavor,
            "program": summary.program,
            "monitor_processing": summary.id,
            "env": {"env_name": "monitor", "date": time.isoformat()},
        },
    }
