"""Focal-plane layouts: where each unit (camera, CCD) is drawn, as the instrument looks.

A layout is written in YAML, in a pipeline's configuration (``layout:``) or in a file of
its own, and compiled here into shapes (SVG path data in the layout's own coordinates)
that the runner announces to the server with the pipeline's description. Two kinds:

``ring``
    Groups as the sectors of a ring (DESI's 10 petals), each split into radial bands,
    one per member (the b, r and z arms, inner to outer)::

        kind: ring
        groups: 10                      # or a list of names
        members: ["b{group}", "r{group}", "z{group}"]
        label: "petal {group}"
        start_angle: 90                 # degrees, counterclockwise from +x; group 0's centre
        clockwise: false

``grid``
    Units in rows and columns: a plain list (``units:`` and ``columns:``), or groups in a
    grid, each a grid of members (LSST's 21 rafts of 9 CCDs)::

        kind: grid
        origin: bottom-left             # row 0 at the bottom (top-left: at the top)
        groups: {rows: 5, columns: 5, name: "R{row}{column}", skip: [R00, R04, R40, R44]}
        members: {rows: 3, columns: 3, name: "{group}_S{row}{column}"}

Either kind may say where each unit's fibre state is (a spectrograph's cameras)::

        fibres: {key: GOOD_FIBERS, count: 500, warning: 5, alarm: 10}

``key`` is the QA value a unit writes with one entry per fibre (1 good, 0 bad, as DESI's
``countbins`` writes it); ``warning`` and ``alarm`` are the counts of bad fibres from which
a unit's fibre state turns yellow and red.

``layout:`` may also name a shipped layout (``desi``, ``lsst``: see
``vigil/monitor/layouts/``) or a YAML file (relative to the configuration). A pipeline
without one is drawn as a grid of its units (`layout_for_units`). This module is pure
but for reading layout files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import MonitorConfigError

__all__ = [
    "LAYOUTS_DIR",
    "FibreSpec",
    "Layout",
    "LayoutLabel",
    "UnitShape",
    "layout_for_units",
    "load_layout",
    "parse_layout",
    "shipped_layouts",
]

LAYOUTS_DIR = Path(__file__).with_name("layouts")
"""Where the shipped layouts (``<name>.yaml``) are."""

_CELL = 10.0
"""Side of one grid cell, in layout units."""

_GAP = 1.0
"""Space between grid cells."""

_GROUP_GAP = 4.0
"""Space between groups of a grid."""

_MARGIN = 12.0
"""Space around the drawing (room for labels)."""

_PATH_DATA = re.compile(r"[MLAZ0-9 .,e+-]*")


@dataclass(frozen=True, slots=True)
class UnitShape:
    """One unit's outline (SVG path data) and where its name is written."""

    name: str
    path: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class LayoutLabel:
    """A group's label (``petal 3``, ``R22``) and where it is written."""

    text: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class FibreSpec:
    """Where a unit's fibre state is: a QA value with one entry per fibre (1 good, 0 bad)."""

    key: str
    count: int
    warning: int = 5
    alarm: int = 10

    def describe(self) -> dict[str, Any]:
        """The fibre state's description as JSON."""
        return {"key": self.key, "count": self.count, "warning": self.warning, "alarm": self.alarm}

    @classmethod
    def from_description(cls, data: Any) -> FibreSpec | None:
        """The fibre description a runner announced, or None if *data* is not one."""
        if not isinstance(data, dict):
            return None
        try:
            spec = cls(
                str(data["key"]), int(data["count"]), int(data["warning"]), int(data["alarm"])
            )
        except (KeyError, TypeError, ValueError):
            return None
        return spec if spec.key and spec.count > 0 else None


@dataclass(frozen=True, slots=True)
class Layout:
    """A compiled layout: every unit's shape, labels, and the drawing's size."""

    name: str
    width: float
    height: float
    units: tuple[UnitShape, ...]
    labels: tuple[LayoutLabel, ...] = ()
    fibres: FibreSpec | None = None

    def describe(self) -> dict[str, Any]:
        """The layout as JSON (what the runner announces)."""
        fibres = {"fibres": self.fibres.describe()} if self.fibres is not None else {}
        return {
            **fibres,
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "units": [{"name": u.name, "path": u.path, "x": u.x, "y": u.y} for u in self.units],
            "labels": [{"text": label.text, "x": label.x, "y": label.y} for label in self.labels],
        }

    @classmethod
    def from_description(cls, data: Any) -> Layout | None:
        """The layout a pipeline announced, or None if *data* is not one.

        What a runner sent is checked: path data holds only path commands and numbers.
        """
        if not isinstance(data, dict) or not isinstance(data.get("units"), list):
            return None
        try:
            units = tuple(
                UnitShape(str(u["name"]), str(u["path"]), float(u["x"]), float(u["y"]))
                for u in data["units"]
            )
            labels = tuple(
                LayoutLabel(str(item["text"]), float(item["x"]), float(item["y"]))
                for item in data.get("labels") or []
            )
            layout = cls(
                name=str(data.get("name") or "layout"),
                width=float(data["width"]),
                height=float(data["height"]),
                units=units,
                labels=labels,
                fibres=FibreSpec.from_description(data.get("fibres")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if not all(_PATH_DATA.fullmatch(u.path) for u in units):
            return None
        return layout

    def names(self) -> list[str]:
        """The units' names, in drawing order."""
        return [u.name for u in self.units]


def _f(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _rect(x: float, y: float, w: float, h: float) -> str:
    return f"M{_f(x)} {_f(y)} L{_f(x + w)} {_f(y)} L{_f(x + w)} {_f(y + h)} L{_f(x)} {_f(y + h)} Z"


def _sector(cx: float, cy: float, r0: float, r1: float, a0: float, a1: float) -> str:
    """An annular sector from angle *a0* to *a1* (radians, counterclockwise, y up)."""

    def point(r: float, a: float) -> str:
        return f"{_f(cx + r * math.cos(a))} {_f(cy - r * math.sin(a))}"

    large = 1 if a1 - a0 > math.pi else 0
    # SVG's y axis points down: a counterclockwise arc on the sky is sweep-flag 0.
    return (
        f"M{point(r0, a0)} L{point(r1, a0)} A{_f(r1)} {_f(r1)} 0 {large} 0 {point(r1, a1)}"
        f" L{point(r0, a1)} A{_f(r0)} {_f(r0)} 0 {large} 1 {point(r0, a0)} Z"
    )


class _Spec:
    """A layout document being read, with errors naming the key."""

    def __init__(self, data: Any, key: str, source: str | None) -> None:
        if not isinstance(data, dict):
            raise MonitorConfigError(
                "a layout is a name (desi, lsst), a file or an object", key=key, source=source
            )
        self.data = data
        self.key = key
        self.source = source

    def error(self, name: str, message: str) -> MonitorConfigError:
        return MonitorConfigError(message, key=f"{self.key}.{name}", source=self.source)

    def integer(self, data: Any, name: str, where: str) -> int:
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
            raise self.error(f"{where}.{name}" if where else name, "must be a whole number 1-1000")
        return value

    def template(self, data: Any, name: str, where: str, default: str) -> str:
        value = data.get(name, default) if isinstance(data, dict) else default
        if not isinstance(value, str) or not value:
            raise self.error(f"{where}.{name}" if where else name, "must be a non-empty text")
        return value

    def fill(self, template: str, name: str, **values: object) -> str:
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            raise self.error(
                name, f"{template!r} may only use {', '.join('{' + k + '}' for k in values)}"
            ) from None


def _unique(spec: _Spec, units: Sequence[UnitShape]) -> None:
    seen: set[str] = set()
    for unit in units:
        if unit.name in seen:
            raise spec.error("members", f"names the unit {unit.name!r} twice")
        seen.add(unit.name)


def _ring(spec: _Spec, name: str) -> Layout:
    data = spec.data
    groups_value = data.get("groups")
    if isinstance(groups_value, int) and not isinstance(groups_value, bool):
        groups = [str(i) for i in range(spec.integer(data, "groups", ""))]
    elif isinstance(groups_value, list) and groups_value:
        groups = [str(g) for g in groups_value]
    else:
        raise spec.error("groups", "must be a count or a non-empty list of names")
    members = data.get("members")
    if not isinstance(members, list) or not members:
        raise spec.error("members", "must be a non-empty list such as ['b{group}', 'r{group}']")
    label = spec.template(data, "label", "", "{group}")
    start = math.radians(float(data.get("start_angle", 90)))
    direction = -1.0 if data.get("clockwise") else 1.0
    radius, inner = 100.0, 28.0
    centre = radius + _MARGIN + 18
    span = 2 * math.pi / len(groups)
    gap = min(span * 0.04, math.radians(1.5))
    band = (radius - inner) / len(members)
    units: list[UnitShape] = []
    labels: list[LayoutLabel] = []
    for index, group in enumerate(groups):
        mid = start + direction * index * span
        a0, a1 = mid - span / 2 + gap, mid + span / 2 - gap
        for k, member in enumerate(members):
            unit = spec.fill(str(member), "members", group=group, index=index)
            r0, r1 = inner + k * band, inner + (k + 1) * band
            rm = (r0 + r1) / 2
            units.append(
                UnitShape(
                    unit,
                    _sector(centre, centre, r0, r1, a0, a1),
                    round(centre + rm * math.cos(mid), 2),
                    round(centre - rm * math.sin(mid), 2),
                )
            )
        text = spec.fill(label, "label", group=group, index=index)
        # Labels left and right of the ring are wide: further out there.
        r = radius + 8 + 12 * abs(math.cos(mid))
        labels.append(
            LayoutLabel(
                text, round(centre + r * math.cos(mid), 2), round(centre - r * math.sin(mid), 2)
            )
        )
    _unique(spec, units)
    size = 2 * centre
    return Layout(name, size, size, tuple(units), tuple(labels))


def _grid(spec: _Spec, name: str) -> Layout:
    data = spec.data
    bottom = data.get("origin", "top-left") == "bottom-left"
    if data.get("origin", "top-left") not in {"top-left", "bottom-left"}:
        raise spec.error("origin", "must be top-left or bottom-left")
    if "units" in data:
        names = data["units"]
        if not isinstance(names, list) or not names:
            raise spec.error("units", "must be a non-empty list of unit names")
        columns = spec.integer(data, "columns", "") if "columns" in data else len(names)
        rows = math.ceil(len(names) / columns)
        cells = [(str(n), i // columns, i % columns) for i, n in enumerate(names)]
        return _cells(spec, name, [("", 0, 0, cells, rows, columns)], 1, 1, bottom)
    groups = data.get("groups")
    members = data.get("members")
    if not isinstance(groups, dict) or not isinstance(members, dict):
        raise spec.error("groups", "a grid needs 'units', or 'groups' and 'members'")
    g_rows = spec.integer(groups, "rows", "groups")
    g_cols = spec.integer(groups, "columns", "groups")
    g_name = spec.template(groups, "name", "groups", "{row}{column}")
    skip = {str(s) for s in groups.get("skip") or []}
    m_rows = spec.integer(members, "rows", "members")
    m_cols = spec.integer(members, "columns", "members")
    m_name = spec.template(members, "name", "members", "{group}{row}{column}")
    blocks = []
    for gr in range(g_rows):
        for gc in range(g_cols):
            group = spec.fill(g_name, "groups.name", row=gr, column=gc)
            if group in skip:
                continue
            cells = [
                (spec.fill(m_name, "members.name", group=group, row=r, column=c), r, c)
                for r in range(m_rows)
                for c in range(m_cols)
            ]
            blocks.append((group, gr, gc, cells, m_rows, m_cols))
    if not blocks:
        raise spec.error("groups.skip", "leaves no group")
    return _cells(spec, name, blocks, g_rows, g_cols, bottom)


_Block = tuple[str, int, int, list[tuple[str, int, int]], int, int]


def _cells(
    spec: _Spec, name: str, blocks: list[_Block], g_rows: int, g_cols: int, bottom: bool
) -> Layout:
    m_rows = max(b[4] for b in blocks)
    m_cols = max(b[5] for b in blocks)
    block_w = m_cols * (_CELL + _GAP) - _GAP
    block_h = m_rows * (_CELL + _GAP) - _GAP
    width = 2 * _MARGIN + g_cols * (block_w + _GROUP_GAP) - _GROUP_GAP
    height = 2 * _MARGIN + g_rows * (block_h + _GROUP_GAP) - _GROUP_GAP
    units: list[UnitShape] = []
    labels: list[LayoutLabel] = []
    for group, gr, gc, cells, rows, _ in blocks:
        row_pos = g_rows - 1 - gr if bottom else gr
        bx = _MARGIN + gc * (block_w + _GROUP_GAP)
        by = _MARGIN + row_pos * (block_h + _GROUP_GAP)
        for unit, r, c in cells:
            cell_row = rows - 1 - r if bottom else r
            x = bx + c * (_CELL + _GAP)
            y = by + cell_row * (_CELL + _GAP)
            units.append(UnitShape(unit, _rect(x, y, _CELL, _CELL), x + _CELL / 2, y + _CELL / 2))
        if group:
            labels.append(LayoutLabel(group, bx + block_w / 2, by - 2))
    _unique(spec, units)
    return Layout(name, width, height, tuple(units), tuple(labels))


def parse_layout(
    data: Any, *, key: str = "layout", source: str | None = None, base: Path | None = None
) -> Layout:
    """Compile a layout: a shipped layout's name, a YAML file, or a layout object.

    Raises
    ------
    MonitorConfigError
        The layout is unknown, unreadable or malformed; the error names the key.
    """
    if isinstance(data, str):
        shipped = LAYOUTS_DIR / f"{data}.yaml"
        if re.fullmatch(r"[a-z0-9_-]+", data) and shipped.is_file():
            return load_layout(shipped)
        path = Path(data)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        if not path.is_file():
            raise MonitorConfigError(
                f"{data!r} is neither a shipped layout ({', '.join(shipped_layouts())}) nor a file",
                key=key,
                source=source,
            )
        return load_layout(path)
    spec = _Spec(data, key, source)
    name = str(data.get("name") or "layout")
    kind = data.get("kind")
    if kind == "ring":
        layout = _ring(spec, name)
    elif kind == "grid":
        layout = _grid(spec, name)
    else:
        raise spec.error("kind", "must be ring or grid")
    if "fibres" in data:
        layout = replace(layout, fibres=_fibres(spec, data["fibres"]))
    return layout


def _fibres(spec: _Spec, data: Any) -> FibreSpec:
    if not isinstance(data, dict):
        raise spec.error("fibres", "must be a mapping such as {key: GOOD_FIBERS, count: 500}")
    unknown = sorted(set(data) - {"key", "count", "warning", "alarm"})
    if unknown:
        raise spec.error(
            f"fibres.{unknown[0]}", "is not a fibre setting (key, count, warning, alarm)"
        )
    key = data.get("key")
    if not isinstance(key, str) or not key.strip():
        raise spec.error("fibres.key", "must name the QA value holding the fibres (GOOD_FIBERS)")
    count = data.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100_000:
        raise spec.error("fibres.count", "must be the number of fibres of a unit, 1-100000")
    levels = {}
    for level, default in (("warning", 5), ("alarm", 10)):
        value = data.get(level, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= count:
            raise spec.error(f"fibres.{level}", f"must be a count of bad fibres, 1-{count}")
        levels[level] = value
    if levels["alarm"] < levels["warning"]:
        raise spec.error("fibres.alarm", "must not be below fibres.warning")
    return FibreSpec(key.strip(), count, levels["warning"], levels["alarm"])


def load_layout(path: str | Path) -> Layout:
    """Read and compile a layout file.

    Raises
    ------
    MonitorConfigError
        The file cannot be read, is not YAML, or the layout is malformed.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MonitorConfigError(
            f"cannot read the layout: {getattr(exc, 'strerror', None) or exc}", source=str(path)
        ) from None
    return parse_layout(data, key="layout", source=str(path), base=path.parent)


def shipped_layouts() -> list[str]:
    """The names of the shipped layouts."""
    return sorted(p.stem for p in LAYOUTS_DIR.glob("*.yaml"))


def layout_for_units(units: Sequence[str]) -> Layout | None:
    """A pipeline's default drawing: the shipped layout holding all its units (DESI's
    cameras, LSST's CCDs), else its units in a grid; None without units."""
    names = [str(u) for u in units]
    if not names:
        return None
    wanted = set(names)
    for shipped in shipped_layouts():
        layout = load_layout(LAYOUTS_DIR / f"{shipped}.yaml")
        if wanted <= set(layout.names()):
            return layout
    columns = min(len(names), max(1, math.ceil(math.sqrt(len(names) * 2))))
    return parse_layout({"name": "units", "kind": "grid", "units": names, "columns": columns})
