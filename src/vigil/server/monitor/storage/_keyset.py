"""Keyset paging of the monitor's listings: the order of a page and the rows after a key.

A listing is ordered by one column, NULLs last, then by id in the same direction, so
that each row has one place. The rows after a `Keyset` (the last row of the previous
page) are those whose value comes later in that order: a greater (or smaller) value,
the same value and a later id, or NULL after any value; after a NULL, only NULLs with a
later id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_

from ..domain import Keyset

__all__ = ["after", "order_by", "rows_after"]


def order_by(column: Any, tie: Any, descending: bool) -> tuple[Any, ...]:
    """``ORDER BY column NULLS LAST, tie``, both ascending or both descending; ``ORDER BY
    tie`` alone when *column* is *tie* (the order an index on it gives)."""
    ordered_tie = tie.desc() if descending else tie.asc()
    if column is tie:
        return (ordered_tie,)
    return (column.desc() if descending else column.asc()).nulls_last(), ordered_tie


def after(column: Any, tie: Any, key: Keyset, descending: bool) -> ColumnElement[bool]:
    """The rows that come after *key* in `order_by` of *column* and *tie*.

    Never NULL itself (each branch is decided for every row), so the rows it leaves out
    are exactly those up to *key*: counted, they are the offset of the page after it.
    """
    later_id: ColumnElement[bool] = tie < key.id if descending else tie > key.id
    if column is tie:
        return later_id
    if key.value is None:
        return and_(column.is_(None), later_id)
    later_value = column < key.value if descending else column > key.value
    return or_(
        and_(column.is_not(None), later_value),
        and_(column.is_not(None), column == key.value, later_id),
        column.is_(None),
    )


def rows_after(condition: ColumnElement[bool] | None) -> Any:
    """A column that counts the rows meeting *condition* (0 without one), to be selected
    beside ``count(*)``."""
    if condition is None:
        return literal(0)
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
