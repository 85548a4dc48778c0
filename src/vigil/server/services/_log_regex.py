"""Search expressions of the logs: compiled by RE2, and what RE2 refuses named for a person."""

from __future__ import annotations

import re
import warnings
from typing import Any, Protocol

import re2

from ..exceptions import InvalidRequestError
from ..storage.logs import search_pattern

__all__ = ["SearchPattern", "UnsupportedRegexError", "compile_regex", "python_flags"]


class UnsupportedRegexError(InvalidRequestError):
    """A regular expression uses what RE2 leaves out (a backreference, a lookaround...)."""

    status_code = 422
    code = "unsupported_regex"


class SearchPattern(Protocol):
    """A compiled search expression (RE2's)."""

    @property
    def pattern(self) -> str:
        """The expression."""

    def search(self, text: str) -> object | None:
        """A match in *text*, or None."""


def compile_regex(pattern: str) -> SearchPattern:
    """Compile a search expression with RE2, which matches in linear time.

    RE2 takes Python's syntax but for what needs backtracking (backreferences,
    lookarounds, atomic groups, possessive quantifiers, conditionals) and a few spellings
    (``\\z`` for ``\\Z``, ``\\x{...}`` for ``\\u...``; no ``(?x)``; at most 1,000
    repetitions).

    Raises
    ------
    InvalidRequestError
        It does not compile (400); the message says where and why.
    UnsupportedRegexError
        It would compile in Python but uses what RE2 does not support (422); the message
        names it.
    """
    try:
        compiled: SearchPattern = search_pattern(pattern)
        return compiled
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b""
        re2_message = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise InvalidRequestError(
            f"The regular expression {pattern!r} does not compile: {exc.msg}{where}."
            " Escape special characters such as ( [ . * + ? with a backslash.",
            field="regex",
        ) from None
    except Exception:  # Python's parser refused it otherwise (a recursion limit...)
        parsed = None
    what = _unsupported(parsed, re2_message)
    raise UnsupportedRegexError(
        f"The regular expression {pattern!r} uses {what}, which log searches do not support:"
        " they use RE2's syntax, whose matching time cannot blow up (see the log search"
        " section of docs/monitor.md).",
        field="regex",
    )


_UNSUPPORTED_NODES = {
    "GROUPREF": "a backreference \\1 or (?P=name)",
    "GROUPREF_EXISTS": "a conditional group (?(1)...)",
    "ATOMIC_GROUP": "an atomic group (?>...)",
    "POSSESSIVE_REPEAT": "a possessive quantifier *+, ++, ?+ or {m,n}+",
}
_UNSUPPORTED_FLAGS = {
    re.VERBOSE: "the verbose flag (?x)",
    re.ASCII: "the ASCII flag (?a)",
    re.LOCALE: "the locale flag (?L)",
}


def _unsupported(parsed: Any, re2_message: str) -> str:
    """What in an expression RE2 lacks: from Python's parse when it names it, else from
    RE2's own message."""
    if parsed is not None:
        found = _unsupported_node(parsed.data if hasattr(parsed, "data") else parsed)
        if found is not None:
            return found
        for flag, name in _UNSUPPORTED_FLAGS.items():
            if parsed.state.flags & flag:
                return name
    hints = {
        "invalid repetition size": "a repetition count over 1,000",
        "bad repetition operator": "a possessive quantifier *+, ++, ?+ or {m,n}+",
        "pattern too large": "more than RE2's memory limit for one expression allows",
        "invalid escape sequence: \\Z": "\\Z (write \\z for the end of the text)",
        "invalid escape sequence: \\u": "\\u (write \\x{hhhh} for a character by its code)",
        "invalid escape sequence: \\U": "\\U (write \\x{hhhhhh} for a character by its code)",
        "invalid escape sequence: \\N": "\\N{...} (write \\x{hhhh} for a character by its code)",
        "invalid perl operator: (?#": "a comment (?#...)",
        "invalid perl operator: (?x": "the verbose flag (?x)",
    }
    for start, name in hints.items():
        if re2_message.startswith(start):
            return name
    return f"what RE2 refuses ({re2_message})"


def _unsupported_node(items: Any) -> str | None:
    for op, argument in items:
        name = str(op)
        if name in _UNSUPPORTED_NODES:
            return _UNSUPPORTED_NODES[name]
        if name in ("ASSERT", "ASSERT_NOT"):
            direction, _sub = argument
            negative = "negative " if name == "ASSERT_NOT" else ""
            if direction < 0:
                return f"a {negative}lookbehind {'(?<!' if negative else '(?<='}...)"
            return f"a {negative}lookahead {'(?!' if negative else '(?='}...)"
        for sub in _subpatterns(argument):
            found = _unsupported_node(sub)
            if found is not None:
                return found
    return None


def _subpatterns(argument: Any) -> list[Any]:
    if hasattr(argument, "data") and hasattr(argument, "state"):
        return [argument]
    if isinstance(argument, tuple | list):
        return [sub for item in argument for sub in _subpatterns(item)]
    return []


def python_flags(pattern: str) -> int | None:
    """The flags of *pattern* as Python's parser reads it, when it reads it as RE2 does;
    None otherwise (then nothing is taken from the parse).

    Python refuses most of RE2's own syntax (``\\pL``, ``\\Q...\\E``, ``(?U)``,
    ``(?<name>...)``) and only warns on its POSIX classes (``[[:alpha:]]``): any warning
    counts as a refusal.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            flags: int = _parser.parse(pattern).state.flags
        return flags
    except Exception:
        return None
