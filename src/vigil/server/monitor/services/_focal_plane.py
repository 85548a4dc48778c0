"""A processing's focal plane: its pipeline's layout, each unit coloured by its worst QA."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from vigil.monitor.layout import FibreSpec, Layout, layout_for_units

from ..domain import FibreState, FocalPlane, FocalPlaneUnit, QaValue, UnitView

__all__ = ["build_focal_plane", "fibre_state", "pipeline_layout", "qa_tooltip"]


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


_BAD_SHOWN = 20
"""Bad fibres named in a tooltip; the rest are counted."""


def fibre_state(spec: FibreSpec, value: QaValue) -> FibreState:
    """A unit's fibres from its QA value *value* (one entry per fibre, 1 good, 0 bad).

    Fibres the value does not list (fewer entries than the layout's count) are bad, and
    so is an entry that is not 1 (NaN, None).
    """
    entries = list(value.values) if value.values else [value.value]
    entries = entries[: spec.count] + [None] * max(0, spec.count - len(entries))
    bad = [i for i, v in enumerate(entries) if v != 1]
    status = (
        "alarm" if len(bad) >= spec.alarm else "warning" if len(bad) >= spec.warning else "normal"
    )
    return FibreState(good=spec.count - len(bad), total=spec.count, bad=bad, status=status)


def _fibre_line(state: FibreState) -> str:
    line = f"fibres: {state.good} of {state.total} good"
    if state.bad:
        named = ", ".join(str(i) for i in state.bad[:_BAD_SHOWN])
        more = f" and {len(state.bad) - _BAD_SHOWN} more" if len(state.bad) > _BAD_SHOWN else ""
        line += f" (bad: {named}{more})"
    return line


def qa_tooltip(
    unit: str,
    status: str | None,
    values: Sequence[QaValue],
    fibres: FibreState | None = None,
    fibre_key: str | None = None,
) -> str:
    """The tooltip of a unit: its worst QA, then each QA value and status, then its fibres."""
    if status is None:
        return f"{unit}: not in this processing"
    lines = [f"{unit}: QA {status}"]
    for q in values:
        if q.key == fibre_key:
            continue
        shown = ", ".join(_number(v) for v in q.values) if len(q.values) > 1 else _number(q.value)
        lines.append(f"{q.display_name or q.key}: {shown} ({q.status})")
    if fibres is not None:
        lines.append(_fibre_line(fibres))
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
    spec = layout.fibres
    key = spec.key if spec is not None else None
    drawn = []
    for shape in layout.units:
        unit = by_name.get(shape.name)
        status = None if unit is None else unit.qa_status
        own = values.get(shape.name, [])
        reported = next((q for q in own if q.key == key), None)
        fibres = fibre_state(spec, reported) if spec is not None and reported is not None else None
        drawn.append(
            FocalPlaneUnit(
                name=shape.name,
                path=shape.path,
                x=shape.x,
                y=shape.y,
                found=unit is not None,
                qa_status=status or "missing",
                tooltip=qa_tooltip(shape.name, status, own, fibres, key),
                fibres=fibres,
            )
        )
    reported_any = spec is not None and any(u.fibres is not None for u in drawn)
    return FocalPlane(
        layout=layout.name,
        width=layout.width,
        height=layout.height,
        units=drawn,
        labels=[(label.text, label.x, label.y) for label in layout.labels],
        fibres=spec.describe() if spec is not None and reported_any else None,
    )
