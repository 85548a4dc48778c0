"""Keyset pagination: a page of items and the cursor of the next one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Page"]

T = TypeVar("T")


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of results; ``next_cursor`` is None on the last page."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None
