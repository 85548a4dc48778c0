"""Reading a monitor configuration: unit ranges, a checked view of one YAML mapping,
placeholders and paths (the parts `vigil.monitor.config` builds its sections with)."""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from pathlib import Path
from typing import Any

from .errors import MonitorConfigError

__all__ = ["PLACEHOLDERS", "expand_units"]

PLACEHOLDERS = (
    "pipeline",
    "unit",
    "exposure",
    "night",
    "flavor",
    "program",
    "path",
    "dir",
    "output",
    "workdir",
)
"""Names usable as ``{name}`` in ``run.command``, ``run.output`` and ``run.qa_files``."""

_UNIT_RANGE = re.compile(r"^([A-Za-z_]*)(\d+)-\1?(\d+)$")


def expand_units(value: Any, key: str = "units", source: str | None = None) -> tuple[str, ...]:
    """Unit names from a list or a text; ``b0-b9`` or ``b0-9`` expands to b0, b1, ... b9.

    Raises
    ------
    MonitorConfigError
        Not a list or text, empty, or a name twice.
    """
    if isinstance(value, str):
        items: list[Any] = value.replace(",", " ").split()
    elif isinstance(value, list):
        items = value
    else:
        raise MonitorConfigError(
            "units are a list (or a text such as 'b0-b9 r0-r9 z0-z9')", key=key, source=source
        )
    units: list[str] = []
    for item in items:
        text = str(item).strip()
        match = _UNIT_RANGE.match(text)
        if match and "-" in text:
            prefix, first, last = match.group(1), int(match.group(2)), int(match.group(3))
            if last < first:
                raise MonitorConfigError(f"the range {text!r} is empty", key=key, source=source)
            units.extend(f"{prefix}{n}" for n in range(first, last + 1))
        elif text:
            units.append(text)
    if not units:
        raise MonitorConfigError("needs at least one unit", key=key, source=source)
    seen: set[str] = set()
    for unit in units:
        if unit in seen:
            raise MonitorConfigError(f"unit {unit!r} appears twice", key=key, source=source)
        seen.add(unit)
    return tuple(units)


class _Reader:
    """Typed access to one mapping of the YAML document, naming keys in errors."""

    def __init__(self, data: Any, key: str, source: str | None, allowed: tuple[str, ...]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MonitorConfigError(
                f"must be a mapping of {', '.join(allowed)}", key=key or None, source=source
            )
        self.data = data
        self.key = key
        self.source = source
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = (
                    f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(allowed)}"
                )
                raise MonitorConfigError(
                    f"unknown key '{name}'{hint}", key=self.path(str(name)), source=source
                )

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def error(self, name: str, message: str) -> MonitorConfigError:
        return MonitorConfigError(message, key=self.path(name), source=self.source)

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(name, "must be a text")
        return str(value)

    def number(self, name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(name, "must be a number")
        if value < minimum:
            raise self.error(name, f"must be at least {minimum:g}")
        return float(value)

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(name, f"must be a whole number of at least {minimum}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)


def _check_placeholders(template: str, key: str, source: str | None) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise MonitorConfigError(
            f"bad placeholder in {template!r}: {exc}", key=key, source=source
        ) from None
    for name in names:
        if name not in PLACEHOLDERS:
            raise MonitorConfigError(
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
                key=key,
                source=source,
            )


def _resolve(base: Path, value: str) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return path if path.is_absolute() else base / path
