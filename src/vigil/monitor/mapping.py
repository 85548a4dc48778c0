"""DESI Quick Look mapping files (``ql_mapping_<flavor>.json``), read as they are.

A step mapping holds ``flavor`` and ``step_list``; each step has ``name``,
``display_name``, ``start`` and ``end`` log markers and a ``qa_list`` of QAs with
``display_name``, ``status_key`` (``NOISE_AMP_STATUS``) and ``name``. The trend mapping
(``ql_mapping_metrics.json``) maps a trend name to ``display`` and ``path``
(``TASKS->CHECK_CCDs->METRICS->NOISE_AMP``, ``GENERAL_INFO->AIRMASS``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MonitorConfigError
from .steps import QaSpec, StepSpec

__all__ = [
    "FlavorMapping",
    "TrendSpec",
    "convert_mappings",
    "load_step_mapping",
    "load_trend_mapping",
    "parse_step_list",
    "parse_trends",
]

_STATUS_SUFFIX = "_STATUS"


@dataclass(frozen=True, slots=True)
class FlavorMapping:
    """The steps of one exposure flavor."""

    flavor: str
    steps: tuple[StepSpec, ...]


@dataclass(frozen=True, slots=True)
class TrendSpec:
    """A trend: what to plot over time.

    Attributes
    ----------
    name
        The trend's key (``noise``).
    display
        Its title (``NOISE``).
    path
        Where the value lies, as DESI writes it: ``TASKS->CHECK_CCDs->METRICS->NOISE_AMP``
        (a QA value of a step) or ``GENERAL_INFO->AIRMASS`` (an exposure's value).
    """

    name: str
    display: str
    path: str

    @property
    def parts(self) -> list[str]:
        """The path's parts."""
        return [part.strip() for part in self.path.split("->")]

    @property
    def step(self) -> str | None:
        """The step of a ``TASKS->STEP->METRICS->KEY`` path, else None."""
        parts = self.parts
        return parts[1] if len(parts) == 4 and parts[0] == "TASKS" else None

    @property
    def key(self) -> str:
        """The value's key: the last part of the path."""
        return self.parts[-1]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MonitorConfigError(
            f"cannot read the file: {exc.strerror or exc}", source=str(path)
        ) from None
    except json.JSONDecodeError as exc:
        raise MonitorConfigError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            source=str(path),
        ) from None


def _text(item: dict[str, Any], name: str, key: str, source: str | None) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MonitorConfigError(f"needs a non-empty text '{name}'", key=key, source=source)
    return value


def _qa(item: Any, key: str, source: str | None) -> QaSpec:
    if not isinstance(item, dict):
        raise MonitorConfigError("a QA is an object", key=key, source=source)
    if "key" in item:
        qa_key = _text(item, "key", key, source)
    else:
        status_key = _text(item, "status_key", key, source)
        qa_key = status_key.removesuffix(_STATUS_SUFFIX)
    display = item.get("display_name") or qa_key
    name = item.get("name")
    return QaSpec(key=qa_key, display_name=str(display), name=str(name) if name else None)


def parse_step_list(
    steps: Any, key: str = "step_list", source: str | None = None
) -> tuple[StepSpec, ...]:
    """Steps from DESI's ``step_list`` (or the same shape written in a monitor config).

    Each step needs ``name``, ``start`` and ``end``; ``display_name`` defaults to the
    name; QAs come from ``qa_list`` (DESI) or ``qa`` and give ``status_key`` (DESI) or
    ``key``.

    Raises
    ------
    MonitorConfigError
        A step or QA is malformed; the error names it.
    """
    if not isinstance(steps, list) or not steps:
        raise MonitorConfigError("needs a non-empty list of steps", key=key, source=source)
    result: list[StepSpec] = []
    names: set[str] = set()
    for i, item in enumerate(steps):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise MonitorConfigError("a step is an object", key=where, source=source)
        name = _text(item, "name", where, source)
        if name in names:
            raise MonitorConfigError(f"step name {name!r} appears twice", key=where, source=source)
        names.add(name)
        start = _text(item, "start", where, source)
        end = item.get("end", "")
        if not isinstance(end, str):
            raise MonitorConfigError("'end' must be a text", key=where, source=source)
        qa_items = item.get("qa_list", item.get("qa", []))
        if not isinstance(qa_items, list):
            raise MonitorConfigError("'qa_list' must be a list", key=where, source=source)
        qa = tuple(_qa(q, f"{where}.qa_list[{j}]", source) for j, q in enumerate(qa_items))
        result.append(
            StepSpec(
                name=name,
                display_name=str(item.get("display_name") or name),
                start=start,
                end=end,
                qa=qa,
            )
        )
    return tuple(result)


def load_step_mapping(path: str | Path) -> FlavorMapping:
    """Read a DESI ``ql_mapping_<flavor>.json`` file.

    Raises
    ------
    MonitorConfigError
        The file cannot be read or is not a step mapping.
    """
    path = Path(path)
    document = _read_json(path)
    if not isinstance(document, dict):
        raise MonitorConfigError("a step mapping is a JSON object", source=str(path))
    flavor = document.get("flavor")
    if not isinstance(flavor, str) or not flavor:
        raise MonitorConfigError("needs a 'flavor'", key="flavor", source=str(path))
    steps = parse_step_list(document.get("step_list"), "step_list", str(path))
    return FlavorMapping(flavor=flavor, steps=steps)


def parse_trends(
    document: Any, key: str = "trends", source: str | None = None
) -> tuple[TrendSpec, ...]:
    """Trends from DESI's metrics mapping shape: ``{name: {display, path}}``.

    Raises
    ------
    MonitorConfigError
        A trend lacks its ``path``.
    """
    if not isinstance(document, dict):
        raise MonitorConfigError(
            "trends are an object {name: {display, path}}", key=key, source=source
        )
    trends = []
    for name, item in document.items():
        where = f"{key}.{name}" if key else str(name)
        if not isinstance(item, dict):
            raise MonitorConfigError(
                "a trend is an object {display, path}", key=where, source=source
            )
        path = _text(item, "path", where, source)
        display = item.get("display") or name
        trends.append(TrendSpec(name=str(name), display=str(display), path=path))
    return tuple(trends)


def load_trend_mapping(path: str | Path) -> tuple[TrendSpec, ...]:
    """Read DESI's ``ql_mapping_metrics.json``."""
    path = Path(path)
    return parse_trends(_read_json(path), key="", source=str(path))


def _steps_document(steps: tuple[StepSpec, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": step.name,
            "display_name": step.display_name,
            "start": step.start,
            "end": step.end,
            "qa": [
                {
                    "key": qa.key,
                    "display_name": qa.display_name,
                    **({"name": qa.name} if qa.name else {}),
                }
                for qa in step.qa
            ],
        }
        for step in steps
    ]


def convert_mappings(paths: list[Path]) -> dict[str, Any]:
    """The ``flavors``, ``qa`` and ``trends`` of a monitor configuration, from DESI's files.

    Step mappings (``ql_mapping_<flavor>.json``) become ``flavors.<flavor>.steps``; the
    trend mapping (``ql_mapping_metrics.json``) becomes ``trends``; every QA key gets an
    entry under ``qa`` for its NORMAL and WARNING ranges, left empty (the ranges the
    pipeline writes in its QA files apply until they are filled in).

    Raises
    ------
    MonitorConfigError
        A file is neither a step mapping nor a trend mapping.
    """
    flavors: dict[str, Any] = {}
    qa: dict[str, Any] = {}
    trends: dict[str, Any] = {}
    for path in paths:
        document = _read_json(Path(path))
        if isinstance(document, dict) and "step_list" in document:
            mapping = load_step_mapping(path)
            flavors[mapping.flavor] = {"steps": _steps_document(mapping.steps)}
            for step in mapping.steps:
                for item in step.qa:
                    qa.setdefault(item.key, {"normal": None, "warning": None})
        elif isinstance(document, dict) and all(
            isinstance(v, dict) and "path" in v for v in document.values()
        ):
            for trend in load_trend_mapping(path):
                trends[trend.name] = {"display": trend.display, "path": trend.path}
        else:
            raise MonitorConfigError(
                "neither a step mapping (flavor, step_list) nor a trend mapping"
                " ({name: {display, path}})",
                source=str(path),
            )
    return {"flavors": flavors, "qa": qa, "trends": trends}
