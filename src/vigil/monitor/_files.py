"""Reading a configuration file as UTF-8 text, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from .errors import MonitorConfigError

__all__ = ["read_utf8"]


def read_utf8(path: Path, what: str = "the file") -> str:
    """The text of *path*.

    Raises
    ------
    MonitorConfigError
        The file cannot be read, or is not UTF-8 (the message gives the first bad byte and
        its line).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MonitorConfigError(
            f"cannot read {what}: {exc.strerror or exc}", source=str(path)
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise MonitorConfigError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8",
            source=str(path),
        ) from None
