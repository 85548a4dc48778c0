"""QA results written by a unit, in DESI Quick Look's JSON shapes, judged against ranges.

Two shapes are read:

- one QA per file (``ql-getrms-b0-00000003.json``): ``METRICS`` holds the values
  (``NOISE_AMP``) and the pipeline's own verdict (``NOISE_AMP_STATUS``), ``PARAMS`` the
  ranges (``NOISE_AMP_NORMAL_RANGE``, ``NOISE_AMP_WARN_RANGE``) and reference
  (``NOISE_AMP_REF``);
- merged (``ql-mergedQA-b0-00000003.json``): ``TASKS`` maps each step to such a
  ``METRICS``/``PARAMS`` pair.

Ranges in the monitor configuration (``qa:``) take precedence over those the pipeline
writes; without either, the pipeline's own status is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import QaRule
from .qa import QaEvaluation, Range, evaluate, parse_status
from .steps import StepSpec

__all__ = ["QaCollector", "QaReading", "judge", "read_qa_document"]

_STATUS = "_STATUS"


@dataclass(frozen=True, slots=True)
class QaReading:
    """One QA value as a pipeline wrote it."""

    key: str
    value: Any
    step: str | None = None
    reported: str | None = None
    normal: Any = None
    warning: Any = None
    reference: Any = None


def _section(section: Any, step: str | None) -> list[QaReading]:
    if not isinstance(section, dict):
        return []
    metrics = section.get("METRICS")
    params = section.get("PARAMS") or {}
    if not isinstance(metrics, dict):
        return []
    if not isinstance(params, dict):
        params = {}
    readings = []
    for key, value in metrics.items():
        if not isinstance(key, str) or key.endswith(_STATUS):
            continue
        status = metrics.get(f"{key}{_STATUS}")
        readings.append(
            QaReading(
                key=key,
                value=value,
                step=step,
                reported=status if isinstance(status, str) else None,
                normal=params.get(f"{key}_NORMAL_RANGE"),
                warning=params.get(f"{key}_WARN_RANGE"),
                reference=params.get(f"{key}_REF"),
            )
        )
    return readings


def read_qa_document(document: Any) -> list[QaReading]:
    """The QA values of one DESI QA document (single or merged)."""
    if not isinstance(document, dict):
        return []
    tasks = document.get("TASKS")
    if isinstance(tasks, dict):
        readings = []
        for step, section in tasks.items():
            readings.extend(_section(section, str(step)))
        return readings
    return _section(document, None)


def _range(value: Any) -> Range | None:
    if value is None or isinstance(value, Range):
        return value
    try:
        return Range.parse(value)
    except ValueError:
        return None


def judge(reading: QaReading, rule: QaRule | None) -> QaEvaluation:
    """The status of *reading*: the configuration's ranges first, else the pipeline's."""
    normal = rule.normal if rule is not None and rule.normal is not None else _range(reading.normal)
    warning = (
        rule.warning if rule is not None and rule.warning is not None else _range(reading.warning)
    )
    reference = (
        rule.reference if rule is not None and rule.reference is not None else reading.reference
    )
    return evaluate(
        reading.value, normal, warning, reference, reported=parse_status(reading.reported)
    )


@dataclass(slots=True)
class QaCollector:
    """Reads a unit's QA files as they appear, each new or changed file once.

    Parameters
    ----------
    steps
        The unit's steps: which step each QA key belongs to.
    rules
        The configuration's ranges by QA key.
    extra_keys
        Keys kept although no step lists them (those trends plot), by step name.
    """

    steps: tuple[StepSpec, ...]
    rules: Mapping[str, QaRule] = field(default_factory=dict)
    extra_keys: Iterable[tuple[str | None, str]] = ()
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)
    _owner: dict[str, tuple[str, str]] = field(default_factory=dict)
    _extra: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for step in self.steps:
            for qa in step.qa:
                self._owner.setdefault(qa.key, (step.name, qa.display_name))
        for step_name, key in self.extra_keys:
            if key not in self._owner:
                self._extra[key] = step_name

    def collect(self, folder: Path, pattern: str) -> list[dict[str, Any]]:
        """QA events for the files under *folder* matching *pattern* that are new or changed.

        Unreadable or half-written files are retried at the next call.
        """
        if not folder.is_dir():
            return []
        events: list[dict[str, Any]] = []
        for path in sorted(folder.glob(pattern)):
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if self._seen.get(path) == stamp:
                    continue
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            self._seen[path] = stamp
            readings = read_qa_document(document)
            # A kept key no step lists belongs to the step of the file's other values.
            owner = next((self._owner[r.key][0] for r in readings if r.key in self._owner), None)
            for reading in readings:
                event = self._event(reading, owner)
                if event is not None:
                    events.append(event)
        return events

    def _event(self, reading: QaReading, owner: str | None = None) -> dict[str, Any] | None:
        if reading.key in self._owner:
            step, display = self._owner[reading.key]
        elif reading.key in self._extra:
            step = self._extra[reading.key] or reading.step or owner or ""
            display = reading.key
        else:
            return None
        if not step:
            return None
        rule = self.rules.get(reading.key)
        verdict = judge(reading, rule)
        normal = rule.normal if rule is not None and rule.normal else _range(reading.normal)
        warning = rule.warning if rule is not None and rule.warning else _range(reading.warning)
        reference = (
            rule.reference if rule is not None and rule.reference is not None else reading.reference
        )
        return {
            "step": step,
            "key": reading.key,
            "display_name": display,
            "status": verdict.status.value,
            "value": verdict.value,
            "values": list(verdict.values),
            "statuses": [s.value for s in verdict.statuses],
            "normal": normal.to_list() if normal else None,
            "warning": warning.to_list() if warning else None,
            "reference": reference,
        }
