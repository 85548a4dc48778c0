"""Reading a number a user typed: ids, cursors, level numbers, pull request numbers."""

from __future__ import annotations

__all__ = ["ID_DIGITS", "parse_decimal"]

ID_DIGITS = 18
"""Digits of the longest id taken: every 18-digit number fits in a signed 64-bit column."""


def parse_decimal(text: str | None, *, max_digits: int = ID_DIGITS) -> int | None:
    """The non-negative integer written in *text* with ASCII digits, else None.

    ``str.isdigit`` is true for ``'²'`` and ``'٣'``, which `int` refuses or reads as
    another digit; only ``0``-``9`` are taken here. Surrounding whitespace is ignored.

    Parameters
    ----------
    text
        What the user sent.
    max_digits
        Longer numbers are None: beyond 18 digits a database cannot compare them with
        its integer columns, and `int` refuses strings of more than 4,300 digits.
    """
    if text is None:
        return None
    digits = text.strip()
    if not digits or len(digits) > max_digits or not (digits.isascii() and digits.isdecimal()):
        return None
    return int(digits)
