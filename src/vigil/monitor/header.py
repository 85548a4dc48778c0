"""An exposure's values (flavor, program, airmass...) read from its file's header."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .config import HeaderSpec
from .errors import MonitorError

__all__ = ["Exposure", "read_exposure"]

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.fz", ".fits.gz", ".fz")
_NUMBER_FIELDS = ("airmass", "seeing", "sky_brightness", "exposure_time", "ra", "dec")
_DIGITS = re.compile(r"(\d+)(?!.*\d)")


@dataclass(slots=True)
class Exposure:
    """One exposure, as the monitor reports it."""

    exposure: str
    path: str | None = None
    night: str | None = None
    flavor: str | None = None
    program: str | None = None
    airmass: float | None = None
    seeing: float | None = None
    sky_brightness: float | None = None
    exposure_time: float | None = None
    ra: float | None = None
    dec: float | None = None
    observed_at: datetime | None = None
    header: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The fields of an ``exposure`` event."""
        return {
            "exposure": self.exposure,
            "path": self.path,
            "night": self.night,
            "flavor": self.flavor,
            "program": self.program,
            "airmass": self.airmass,
            "seeing": self.seeing,
            "sky_brightness": self.sky_brightness,
            "exposure_time": self.exposure_time,
            "ra": self.ra,
            "dec": self.dec,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "header": self.header,
        }

    def placeholders(self) -> dict[str, str]:
        """Values of the command placeholders that come from the exposure."""
        path = Path(self.path) if self.path else None
        return {
            "exposure": self.exposure,
            "night": self.night or "",
            "flavor": self.flavor or "",
            "program": self.program or "",
            "path": str(path) if path else "",
            "dir": str(path.parent) if path else "",
        }


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _read_fits_header(path: Path, hdu: int | str) -> dict[str, Any]:
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            header = hdul[hdu].header
            # Compressed images keep their keywords in the first extension.
            if hdu == 0 and len(header) < 8 and len(hdul) > 1:
                header = hdul[1].header
            return {
                key: _plain(header[key])
                for key in header
                if key and key not in ("COMMENT", "HISTORY", "")
            }
    except (OSError, IndexError, KeyError) as exc:
        raise MonitorError(f"Cannot read the FITS header of {path} (HDU {hdu}): {exc}.") from None


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise MonitorError(f"Cannot read the header file {path}: {exc}.") from None
    if not isinstance(data, dict):
        raise MonitorError(f"The header file {path} must hold an object of keywords.")
    return {str(k): _plain(v) for k, v in data.items()}


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_header(path: Path, spec: HeaderSpec) -> dict[str, Any]:
    """The keywords of an exposure file (FITS), or of its JSON/YAML sidecar."""
    if spec.sidecar:
        sidecar = path.parent / spec.sidecar.format(stem=path.name.split(".")[0], name=path.name)
        return _read_mapping(sidecar)
    if path.name.lower().endswith(_FITS_SUFFIXES):
        return _read_fits_header(path, spec.hdu)
    return _read_mapping(path)


def read_exposure(path: Path, spec: HeaderSpec) -> Exposure:
    """An exposure's values from its header, as *spec* maps them.

    The exposure id is the header's value, else the last number in the file name.

    Raises
    ------
    MonitorError
        The header cannot be read, or there is no exposure id.
    """
    header = read_header(path, spec)
    keys = spec.keys

    def get(name: str) -> Any:
        keyword = keys.get(name)
        return header.get(keyword) if keyword else None

    exposure = get("exposure")
    if exposure is None:
        match = _DIGITS.search(path.name)
        if match is None:
            raise MonitorError(
                f"{path} has no {keys.get('exposure')} keyword and no number in its name:"
                " set header.keys.exposure to the keyword holding the exposure id."
            )
        exposure = match.group(1)
    if isinstance(exposure, int):
        exposure = f"{exposure:08d}"
    night = get("night")
    values: dict[str, Any] = {name: _number(get(name)) for name in _NUMBER_FIELDS}
    return Exposure(
        exposure=str(exposure),
        path=str(path),
        night=None if night is None else str(night),
        flavor=None if get("flavor") is None else str(get("flavor")).strip().lower(),
        program=None if get("program") is None else str(get("program")).strip(),
        observed_at=_time(get("time")),
        header=header,
        **values,
    )
