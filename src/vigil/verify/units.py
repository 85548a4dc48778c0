"""Units as astropy unit strings, parsed once and cached.

lsst.verify writes units as astropy strings (``mmag``, ``marcsec``, ``%``, ``''`` for
dimensionless, ``nJy``, ``pix``, ``Gbyte``). Parsing a unit string costs a fraction of a
millisecond; loading thousands of specifications re-uses a handful of strings, so the
parse is cached.
"""

from __future__ import annotations

import math
from functools import lru_cache

import astropy.units as u

from vigil.verify.errors import UnitError

__all__ = ["conversion_factor", "convert", "convertible", "parse_unit", "unit_string"]


@lru_cache(maxsize=1024)
def parse_unit(text: str | None) -> u.UnitBase:
    """Return the astropy unit of *text*; ``''`` and ``None`` are dimensionless.

    Raises
    ------
    UnitError
        The text is not an astropy unit string.
    """
    if text is None or (isinstance(text, str) and text.strip() in ("", "dimensionless")):
        return u.dimensionless_unscaled
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string such as 'mmag', not {text!r}")
    try:
        return u.Unit(text, parse_strict="raise")
    except (ValueError, TypeError) as exc:
        raise UnitError(f"'{text}' is not a unit astropy understands ({exc})") from None


def unit_string(unit: u.UnitBase | str | None) -> str:
    """The astropy string of *unit*, ``''`` for dimensionless."""
    if unit is None:
        return ""
    if isinstance(unit, str):
        return unit
    if unit == u.dimensionless_unscaled:
        return ""
    return str(unit.to_string())


@lru_cache(maxsize=4096)
def _factor(from_unit: str, to_unit: str) -> float:
    source, target = parse_unit(from_unit), parse_unit(to_unit)
    try:
        return float(source.to(target))
    except u.UnitConversionError:
        raise UnitError(
            f"unit '{from_unit or 'dimensionless'}' does not convert to "
            f"'{to_unit or 'dimensionless'}'"
        ) from None


def conversion_factor(from_unit: str | None, to_unit: str | None) -> float | None:
    """The factor taking a value in *from_unit* to *to_unit*, or None if they do not convert."""
    try:
        return _factor(from_unit or "", to_unit or "")
    except UnitError:
        return None


def convertible(from_unit: str | None, to_unit: str | None) -> bool:
    """True when a value in *from_unit* can be expressed in *to_unit*."""
    try:
        _factor(from_unit or "", to_unit or "")
    except UnitError:
        return False
    return True


def convert(value: float, from_unit: str | None, to_unit: str | None) -> float:
    """Express *value* given in *from_unit* in *to_unit* (NaN stays NaN).

    Only multiplicative conversions are supported, which covers every unit of the
    lsst.verify metric packages (no temperatures in degrees Celsius).
    """
    factor = _factor(from_unit or "", to_unit or "")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    return float(value) * factor
