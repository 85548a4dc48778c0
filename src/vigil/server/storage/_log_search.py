"""Searching logs: RE2 patterns, their PostgreSQL and LIKE spellings, trigram block
queries, and statements stopped at a search's deadline."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import re2
from sqlalchemy import LargeBinary, Select, and_, func, or_, select, text
from sqlalchemy import cast as cast_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..dbschema import SqlLogLine
from ..domain.logs import LogQuery

__all__ = [
    "FTS_SQLITE",
    "LINE_COLUMNS",
    "GramNeed",
    "SearchTimeoutError",
    "TextNeed",
    "bounded",
    "contains",
    "fts_match",
    "like_pattern",
    "line_matcher",
    "lines_query",
    "postgres_regex",
    "search_pattern",
]

TextNeed = tuple[tuple[str, ...], bool]
"""Texts of which a line contains at least one, and whether case is ignored."""

GramNeed = list[list[int]]
"""Trigram sets of which a block holds at least one whole (one set per alternative)."""

LINE_COLUMNS = (
    SqlLogLine.id,
    SqlLogLine.run_id,
    SqlLogLine.time,
    SqlLogLine.level,
    SqlLogLine.message,
    SqlLogLine.unit,
    SqlLogLine.process,
    SqlLogLine.thread,
    SqlLogLine.logger,
    SqlLogLine.checkpoint,
)
"""The columns of a `LogLine`."""

FTS_SQLITE = (
    "SELECT b.id, b.last_id FROM log_blocks_fts AS f JOIN log_blocks AS b ON b.id = f.rowid"
    " WHERE log_blocks_fts MATCH :match{where} ORDER BY f.rowid {order} LIMIT :limit"
)


_QUERY_CANCELED = "57014"
"""PostgreSQL's SQLSTATE for a statement cancelled (here: by ``statement_timeout``)."""

_PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two checks of a search's deadline."""


class SearchTimeoutError(Exception):
    """A statement of a search was stopped at the search's deadline (or not started)."""


def _re2_options(*, capture: bool = True) -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are raised; RE2 would also print them on stderr
    options.never_capture = not capture
    return options


_OPTIONS = _re2_options()
_TEST_OPTIONS = _re2_options(capture=False)  # whether a line matches: no groups to track


@functools.lru_cache(maxsize=64)
def search_pattern(expression: str) -> Any:
    """*expression* compiled by RE2, whose matching time is linear in the text's length
    (no backtracking), and which releases the GIL while it matches.

    Raises
    ------
    re2.error
        RE2 does not accept it (its syntax error, or a construct it lacks).
    """
    return re2.compile(expression, _OPTIONS)


@functools.lru_cache(maxsize=64)
def line_matcher(expression: str) -> Callable[[str, bytes | None], bool]:
    """SQLite's ``vigil_regexp(expression, CAST(message AS BLOB))`` for *expression*:
    whether the UTF-8 text holds a match, at the least cost per call.

    SQLite calls it for every line a scan reads: RE2's own ``Match`` on the bytes SQLite
    holds costs a third of the module's ``search`` on text (no decoding, encoding, offsets
    or match object).
    """
    compiled = re2.compile(expression, _TEST_OPTIONS)
    raw = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw is None or anchor is None or not hasattr(raw, "Match"):  # another google-re2

        def search(given: str, message: bytes | None) -> bool:
            if given != expression:
                return line_matcher(given)(given, message)
            return message is not None and compiled.search(message) is not None

        return search
    match = raw.Match

    def test(given: str, message: bytes | None) -> bool:
        if given != expression:
            return line_matcher(given)(given, message)
        return message is not None and match(anchor, message, 0, len(message))[0][0] >= 0

    return test


def postgres_regex(expression: str) -> str | None:
    r"""*expression* (RE2 syntax) for PostgreSQL's ``~``, matching every line RE2 matches
    (a prefilter: RE2 checks each line after); None when that cannot be promised.

    Word boundaries and the end of text are spelt differently (``\b`` is a backspace in
    PostgreSQL: ``\y``; ``\B``: ``\Y``; ``\z``: ``\Z``) and group names are dropped.
    Left to RE2 alone: what PostgreSQL would match on fewer lines (``\W``, ``\D``, ``\S``
    and negated sets, whose word characters and digits are Unicode in PostgreSQL and ASCII
    in RE2; ``(?m)``, under which PostgreSQL's sets skip newlines) and what it spells
    otherwise or lacks (octal escapes, ``\x{...}``, Unicode classes, ``\Q...\E``, flags
    other than a leading ``(?i)`` or ``(?s)``).
    """
    out: list[str] = []
    i, size = 0, len(expression)
    in_set = False
    while i < size:
        char = expression[i]
        if char == "\\":
            escaped = expression[i + 1 : i + 2]
            if escaped in ("D", "W", "S", "p", "P", "Q", "E", "C") or escaped.isdigit():
                return None
            if escaped == "x" and expression[i + 2 : i + 3] == "{":
                return None
            if not in_set and escaped in _POSTGRES_ESCAPES:
                out.append(_POSTGRES_ESCAPES[escaped])
            else:
                out.append(expression[i : i + 2])
            i += 2
        elif in_set:
            if char == "[" and expression[i + 1 : i + 2] == ":":
                close = expression.find(":]", i + 2)
                if close < 0:
                    return None
                out.append(expression[i : close + 2])  # a class such as [:alpha:]
                i = close + 2
                continue
            in_set = char != "]"
            out.append(char)
            i += 1
        elif char == "[":
            if expression[i + 1 : i + 2] == "^":
                return None
            in_set = True
            # A "]" right after "[" is a member of the set.
            member = expression[i + 1 : i + 2] == "]"
            out.append(expression[i : i + 1 + member])
            i += 1 + member
        elif char == "(" and expression[i + 1 : i + 2] == "?":
            rest = expression[i + 2 :]
            if rest.startswith(":"):
                out.append("(?:")
                i += 3
            elif rest.startswith(("P<", "<")) and not rest.startswith(("<=", "<!")):
                close = rest.find(">")
                if close < 0:
                    return None
                out.append("(")  # PostgreSQL names no groups; a match is all that counts
                i += 2 + close + 1
            else:
                flags, closed, _ = rest.partition(")")
                if i > 0 or not closed or not flags or not set(flags) <= {"i", "s"}:
                    return None
                out.append(f"(?{flags})")  # only at the start in PostgreSQL
                i += 2 + len(flags) + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


_POSTGRES_ESCAPES = {"b": r"\y", "B": r"\Y", "z": r"\Z"}


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards escaped (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@contextmanager
def bounded(session: Session, deadline: float | None) -> Iterator[None]:
    """Stop the statements *session* runs inside at *deadline* (``time.monotonic()``).

    PostgreSQL cancels them itself (``SET LOCAL statement_timeout``: until the
    transaction ends, which the caller does after each search); SQLite asks a progress
    handler every thousand steps of its virtual machine whether to go on. Either way a
    statement still running at the deadline ends with `SearchTimeoutError` (and the
    transaction is to be rolled back), never later than that plus one step, so that a
    search holds neither a connection nor the GIL past its time.

    Raises
    ------
    SearchTimeoutError
        A statement was stopped, or the deadline passed before one could start.
    """
    if deadline is None:
        yield
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise SearchTimeoutError
    if session.get_bind().dialect.name == "postgresql":
        milliseconds = max(1, math.ceil(remaining * 1000))
        session.execute(text(f"SET LOCAL statement_timeout = {milliseconds:d}"))
        try:
            yield
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _QUERY_CANCELED:
                raise SearchTimeoutError from exc
            raise
        return
    connection: Any = session.connection().connection.driver_connection
    stopped = False

    def progress() -> int:
        nonlocal stopped
        stopped = time.monotonic() > deadline
        return stopped

    connection.set_progress_handler(progress, _PROGRESS_STEPS)
    try:
        yield
    except DBAPIError as exc:
        if stopped:
            raise SearchTimeoutError from exc
        raise
    finally:
        connection.set_progress_handler(None, 0)


def fts_match(needs: Sequence[GramNeed]) -> str:
    """An FTS5 query: every need, each one of its alternatives with all its trigrams."""
    clauses = []
    for need in needs:
        alternatives = [
            "(" + " AND ".join(f'"{code:06x}"' for code in codes) + ")" for codes in need
        ]
        clauses.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(clauses)


def lines_query(
    query: LogQuery,
    *,
    postgres: bool,
    texts: Sequence[TextNeed],
    database_regex: tuple[str, bool] | None,
    ranges: Sequence[tuple[int, int]] | None,
    columns: Sequence[Any] = LINE_COLUMNS,
    words: bool = True,
) -> Select[*tuple[Any, ...]]:
    """The lines of *query* (its filters, and its words unless not *words*) that contain
    *texts* and match *database_regex*, within *ranges*, in the query's order.

    *postgres*: the statement is for PostgreSQL (else SQLite).
    """
    # No join: the planner then walks the id index and stops at the limit.
    stmt = select(*columns)
    conditions = []
    if query.run_id is not None:
        conditions.append(SqlLogLine.run_id == query.run_id)
    if query.unit is not None:
        conditions.append(SqlLogLine.unit == query.unit)
    if query.process is not None:
        conditions.append(SqlLogLine.process == query.process)
    if query.thread is not None:
        conditions.append(SqlLogLine.thread == query.thread)
    if query.min_level is not None:
        conditions.append(SqlLogLine.level >= query.min_level)
    if query.since is not None:
        conditions.append(SqlLogLine.time >= query.since)
    if query.until is not None:
        conditions.append(SqlLogLine.time < query.until)
    if query.checkpoints_only:
        conditions.append(SqlLogLine.checkpoint.is_not(None))
    if query.after is not None:
        conditions.append(SqlLogLine.id > query.after)
    if query.before is not None:
        conditions.append(SqlLogLine.id < query.before)
    if ranges is not None:
        conditions.append(or_(*(SqlLogLine.id.between(a, b) for a, b in ranges)))
    # SQLite's LIKE ignores ASCII case by itself (its ILIKE would lower() every line);
    # PostgreSQL's needs ILIKE for that.
    for word in (query.text or "").split() if words else ():
        conditions.append(contains(like_pattern(word), ignore_case=True, postgres=postgres))
    expression = None
    if database_regex is not None:
        expression = postgres_regex(database_regex[0]) if postgres else database_regex[0]
    # PostgreSQL's ILIKE costs as much as its ~* (both fold case): one of them is enough.
    for alternatives, ignore_case in texts:
        if ignore_case and expression is not None and postgres:
            continue
        conditions.append(
            or_(
                *(
                    contains(like_pattern(t), ignore_case=ignore_case, postgres=postgres)
                    for t in alternatives
                )
            )
        )
    if database_regex is not None and expression is not None:
        if postgres:
            operator = "~*" if database_regex[1] else "~"
            conditions.append(SqlLogLine.message.op(operator)(expression))
        else:
            # Last: SQLite tests the terms in order, the cheap LIKEs first.
            message = cast_(SqlLogLine.message, LargeBinary)  # UTF-8 bytes, see line_matcher
            conditions.append(func.vigil_regexp(expression, message))
    if conditions:
        stmt = stmt.where(and_(*conditions))
    order = SqlLogLine.id.desc() if query.newest_first else SqlLogLine.id.asc()
    return stmt.order_by(order)


def contains(pattern: str, *, ignore_case: bool, postgres: bool) -> Any:
    """Whether a line's message is LIKE *pattern* (`like_pattern`), ignoring case if asked."""
    if not postgres:
        return SqlLogLine.message.like(pattern, escape="\\")
    if ignore_case:
        return SqlLogLine.message.ilike(pattern, escape="\\")
    return SqlLogLine.message.like(pattern, escape="\\")
