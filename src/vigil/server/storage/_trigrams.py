"""Trigrams of log text: what a search block indexes and what a search asks for.

A trigram is three consecutive bytes of the UTF-8 encoding of the case-folded text,
numbered ``b0 << 16 | b1 << 8 | b2``. Case folding maps each character on its own, so a
text containing a literal (in any case) also contains every trigram of the literal: the
blocks holding all of them are a superset of those holding a match. PostgreSQL stores the
numbers (``integer[]``), SQLite's FTS5 the six-digit hexadecimal tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BLOCK_LINES", "block_grams", "gram_tokens", "literal_grams"]

BLOCK_LINES = 1024
"""Lines per search block at most (on PostgreSQL, the step of the line id sequence)."""


def _codes(text: str) -> list[int]:
    data = text.casefold().encode("utf-8", "surrogatepass")
    if len(data) < 3:
        return []
    raw = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    # numpy does in one pass over the bytes what a Python loop would do per character.
    codes: list[int] = np.unique((raw[:-2] << 16) | (raw[1:-1] << 8) | raw[2:]).tolist()
    return codes


def block_grams(messages: Sequence[str]) -> list[int]:
    """The distinct trigrams of the lines of one block, in increasing order.

    The lines are joined by newlines: the few trigrams spanning two lines can only make
    a block a candidate it did not need to be, never hide one.
    """
    return _codes("\n".join(messages))


def literal_grams(text: str) -> list[int]:
    """The distinct trigrams every text containing *text* (in any case) contains."""
    return _codes(text)


def gram_tokens(codes: Sequence[int]) -> str:
    """The trigrams as SQLite's FTS5 indexes them: hexadecimal words."""
    return ("%06x " * len(codes) % tuple(codes)).rstrip()
