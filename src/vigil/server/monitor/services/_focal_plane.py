"""A processing's focal plane: its pipeline's layout, each unit coloured by its worst QA."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from vigil.monitor.layout import Layout, layout_for_units

from ..domain import FocalPlane, FocalPlaneUnit, QaValue, UnitView

__all__ = ["build_focal_plane", "pipeline_layout", "qa_tooltip"]


@lru_cache(maxsize=64)
def _default_layout(units: tuple[str, ...]) -> Layout | None:
    return layout_for_units(units)


def pipeline_layout(description: dict[str, Any] | None, units: Sequence[str]) -> Layout | None:
    """The layout a pipeline announced, else the default one for its units."""
    announced = Layout.from_description((description or {}).get("layout"))
    if announced is not None:
        return announced
    names = tuple(str(u) for u in (description or {}).get("units") or units)
    return _default_layout(names)


_NONE = "\N{EN DASH}"


def _number(value: float | None) -> str:
    return _NONE if value is None else f"{value:.4g}"


def qa_tooltip(unit: str, status: str | None, values: Sequence[QaValue]) -> str:
    """The tooltip of a unit: its worst QA, then each QA value and status."""
    if status is None:
        return f"{unit}: not in this processing"
    lines = [f"{unit}: QA {status}"]
    for q in values:
        shown = ", ".join(_number(v) for v in q.values) if len(q.values) > 1 else _number(q.value)
        lines.append(f"{q.display_name or q.key}: {shown} ({q.status})")
    return "\n".join(lines)


def build_focal_plane(
    layout: Layout | None, units: Sequence[UnitView], qa: Sequence[QaValue]
) -> FocalPlane | None:
    """The focal plane of a processing's *units* and *qa* values on *layout*."""
    if layout is None:
        return None
    by_name = {u.name: u for u in units}
    values: dict[str, list[QaValue]] = {}
    for q in qa:
        values.setdefault(q.unit, []).append(q)
    drawn = []
    for shape in layout.units:
        unit = by_name.get(shape.name)
        status = None if unit is None else unit.qa_status
        drawn.append(
            FocalPlaneUnit(
                name=shape.name,
                path=shape.path,
                x=shape.x,
                y=shape.y,
                found=unit is not None,
                qa_status=status or "missing",
                tooltip=qa_tooltip(shape.name, status, values.get(shape.name, [])),
            )
        )
    return FocalPlane(
        layout=layout.name,
        width=layout.width,
        height=layout.height,
        units=drawn,
        labels=[(label.text, label.x, label.y) for label in layout.labels],
    )
