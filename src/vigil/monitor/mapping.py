"""DESI Quick Look mapping files (``ql_mapping_<flavor>.json``), read as they are.

A step mapping holds ``flavor`` and ``step_list``; each step has ``name``,
``display_name``, ``start`` and ``end`` log markers and a ``qa_list`` of QAs with
``display_name``, ``status_key`` (``NOISE_AMP_STATUS``) and ``name``. The trend mapping
(``ql_mapping_metrics.json``) maps a trend name to ``display`` and ``path``
(``TASKS->CHECK_CCDs->METRICS->NOISE_AMP``, ``GENERAL_INFO->AIRMASS``).

Every way a file can be wrong is one `MonitorConfigError` naming the file and the field:
not UTF-8, not JSON, a key twice in one object, a flavor that is neither the one its file
name (``ql_mapping_<flavor>.json``) or configuration gives nor one of DESI's, a status key
without ``_STATUS``, a step, start marker or QA key given twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._files import read_utf8
from .desi_qa import DESI_QA_DESCRIPTIONS
from .errors import MonitorConfigError
from .steps import QaSpec, StepSpec

__all__ = [
    "DESI_FLAVORS",
    "FlavorMapping",
    "TrendSpec",
    "convert_mappings",
    "load_step_mapping",
    "load_trend_mapping",
    "parse_step_list",
    "parse_trends",
]

_STATUS_SUFFIX = "_STATUS"
_FILE_NAME = re.compile(r"^ql_mapping_(?P<flavor>.+)\.json$", re.IGNORECASE)
_FLAVOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

DESI_FLAVORS = ("science", "arc", "flat", "dark", "zero", "bias", "twilight")
"""The exposure flavors DESI's headers write (``FLAVOR``); a mapping file for another one
must say so in its name (``ql_mapping_<flavor>.json``)."""


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently: a step or flavor written twice
    # would vanish without a word.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


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
    text = read_utf8(path)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise MonitorConfigError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            source=str(path),
        ) from None
    except _DuplicateKeyError as exc:
        raise MonitorConfigError(
            "appears twice in one object of the file", key=exc.key, source=str(path)
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
        if qa_key.endswith(_STATUS_SUFFIX):
            raise MonitorConfigError(
                f"{qa_key!r} is a status key: give the value's key"
                f" ({qa_key.removesuffix(_STATUS_SUFFIX)!r}) or write it as 'status_key'",
                key=f"{key}.key",
                source=source,
            )
    else:
        status_key = _text(item, "status_key", key, source).strip()
        qa_key = status_key.removesuffix(_STATUS_SUFFIX)
        if qa_key == status_key or not qa_key:
            raise MonitorConfigError(
                f"{status_key!r} must be the value's key followed by {_STATUS_SUFFIX}"
                f" ({status_key}{_STATUS_SUFFIX})",
                key=f"{key}.status_key",
                source=source,
            )
    display = item.get("display_name") or qa_key
    name = item.get("name")
    description = item.get("description")
    return QaSpec(
        key=qa_key,
        display_name=str(display),
        name=str(name) if name else None,
        description=str(description) if description else DESI_QA_DESCRIPTIONS.get(qa_key),
    )


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
    names: dict[str, int] = {}
    starts: dict[str, str] = {}
    for i, item in enumerate(steps):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise MonitorConfigError("a step is an object", key=where, source=source)
        name = _text(item, "name", where, source)
        if name in names:
            raise MonitorConfigError(
                f"step {name!r} appears twice (also {key}[{names[name]}])",
                key=f"{where}.name",
                source=source,
            )
        names[name] = i
        start = _text(item, "start", where, source)
        if start in starts:
            raise MonitorConfigError(
                f"the start marker {start!r} is also step {starts[start]!r}'s: a line could"
                " not tell which step it starts",
                key=f"{where}.start",
                source=source,
            )
        starts[start] = name
        end = item.get("end", "")
        if not isinstance(end, str):
            raise MonitorConfigError("must be a text", key=f"{where}.end", source=source)
        qa_name = "qa_list" if "qa_list" in item else "qa"
        qa_items = item.get(qa_name, [])
        if not isinstance(qa_items, list):
            raise MonitorConfigError("must be a list", key=f"{where}.{qa_name}", source=source)
        qa = tuple(_qa(q, f"{where}.{qa_name}[{j}]", source) for j, q in enumerate(qa_items))
        seen: set[str] = set()
        for j, spec in enumerate(qa):
            if spec.key in seen:
                raise MonitorConfigError(
                    f"QA {spec.key!r} appears twice in step {name!r}",
                    key=f"{where}.{qa_name}[{j}]",
                    source=source,
                )
            seen.add(spec.key)
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


def _check_flavor(flavor: Any, path: Path, expected: str | None) -> str:
    source = str(path)
    if not isinstance(flavor, str) or not flavor.strip():
        raise MonitorConfigError(
            "needs the exposure flavor the steps are for (science, arc, flat, ...)",
            key="flavor",
            source=source,
        )
    if not _FLAVOR_NAME.match(flavor):
        raise MonitorConfigError(
            f"{flavor!r} is not a flavor name (letters, digits, '.', '_' or '-')",
            key="flavor",
            source=source,
        )
    named = _FILE_NAME.match(path.name)
    if named is not None and flavor.lower() != named.group("flavor").lower():
        raise MonitorConfigError(
            f"{flavor!r} is not the flavor of the file name ({named.group('flavor')!r})",
            key="flavor",
            source=source,
        )
    if expected is not None and flavor.lower() != expected.lower():
        raise MonitorConfigError(
            f"the file is for flavor {flavor!r}, but the configuration gives it for {expected!r}",
            key="flavor",
            source=source,
        )
    if expected is None and named is None and flavor.lower() not in DESI_FLAVORS:
        raise MonitorConfigError(
            f"unknown flavor {flavor!r}; DESI's are {', '.join(DESI_FLAVORS)} (name the file"
            f" ql_mapping_{flavor}.json to use another)",
            key="flavor",
            source=source,
        )
    return flavor


def load_step_mapping(path: str | Path, flavor: str | None = None) -> FlavorMapping:
    """Read a DESI ``ql_mapping_<flavor>.json`` file.

    Parameters
    ----------
    path
        The file.
    flavor
        The flavor the file is given for (a configuration's ``flavors.<flavor>``), if any:
        the file's own ``flavor`` must be the same.

    Raises
    ------
    MonitorConfigError
        The file cannot be read or is not a step mapping; its flavor is not the one its
        name or *flavor* gives (or, without either, not one of `DESI_FLAVORS`).
    """
    path = Path(path)
    document = _read_json(path)
    if not isinstance(document, dict):
        raise MonitorConfigError(
            "a step mapping is a JSON object {flavor, step_list}", source=str(path)
        )
    checked = _check_flavor(document.get("flavor"), path, flavor)
    steps = parse_step_list(document.get("step_list"), "step_list", str(path))
    return FlavorMapping(flavor=checked, steps=steps)


def _check_trend_path(path: str, key: str, source: str | None) -> None:
    parts = [part.strip() for part in path.split("->")]
    if not all(parts):
        raise MonitorConfigError(
            f"{path!r} has an empty part; write TASKS->STEP->METRICS->KEY or GENERAL_INFO->KEY",
            key=key,
            source=source,
        )
    if parts[0] == "TASKS" and (len(parts) != 4 or parts[2] != "METRICS"):
        raise MonitorConfigError(
            f"{path!r} is not TASKS->STEP->METRICS->KEY", key=key, source=source
        )


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
        _check_trend_path(path, f"{where}.path" if where else "path", source)
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
            if mapping.flavor in flavors:
                raise MonitorConfigError(
                    f"flavor {mapping.flavor!r} is also given by another file",
                    key="flavor",
                    source=str(path),
                )
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
