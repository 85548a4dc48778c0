"""The only ways text enters Vigil's DuckDB SQL: checked identifiers, literals, file lists.

Values (dataId values, thresholds, bands compared with a column) are bound as ``?``
parameters wherever DuckDB allows one. What cannot be bound goes through this module:

- a column name (from the Parquet files, from a band of ``vigil-repo.yaml`` spelled into
  ``<band>_psfFlux``, or chosen by a user among a table's columns) through
  `quote_identifier`, which refuses anything but a plain name;
- a string inside a query assembled once (a band in a plan, a setting) through
  `string_literal`;
- the files of ``read_parquet``, bound or spelled out, through `parquet_paths` or
  `file_list`: DuckDB expands ``*``, ``?`` and ``[...]`` in every path it reads, so a
  folder named ``[ab]`` would read the folders ``a`` and ``b``; they are escaped.

Any other text formatted into SQL is a bug (``tests/reliability/test_security.py``
checks the source).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from vigil.compute.errors import ComputeError

__all__ = ["IDENTIFIER", "file_list", "parquet_paths", "quote_identifier", "string_literal"]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
"""A plain column name: ASCII letters, digits and underscores, not starting with a digit."""

_GLOB = re.compile(r"([*?\[])")


def quote_identifier(name: str) -> str:
    """*name* as a quoted SQL identifier, after checking it is a plain name.

    Quoting alone would make any text harmless; the check also stops a name that no
    catalogue column can have (a band such as ``i"; DROP TABLE t; --`` spelled into a
    column name) before DuckDB sees it, with a message saying why.

    Raises
    ------
    ComputeError
        *name* is not `IDENTIFIER`.
    """
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ComputeError(
            f"{name!r} is not a column name: use ASCII letters, digits and underscores,"
            " not starting with a digit (at most 255)"
        )
    return f'"{name}"'


def string_literal(text: str) -> str:
    """*text* as an SQL string literal (DuckDB reads backslashes as themselves).

    Raises
    ------
    ComputeError
        *text* holds a NUL character, which a file name or a setting cannot hold.
    """
    if "\x00" in text:
        raise ComputeError(f"{text!r} holds a NUL character")
    return "'" + text.replace("'", "''") + "'"


def parquet_paths(paths: Iterable[Path | str]) -> list[str]:
    """The paths as ``read_parquet`` must be given them to read exactly those files.

    ``*``, ``?`` and ``[`` become ``[*]``, ``[?]`` and ``[[]``, which DuckDB's glob
    matches as the characters themselves.

    Raises
    ------
    ComputeError
        A path holds a NUL character.
    """
    out = []
    for path in paths:
        text = str(path)
        if "\x00" in text:
            raise ComputeError(f"{text!r} holds a NUL character")
        out.append(_GLOB.sub(r"[\1]", text))
    return out


def file_list(paths: Iterable[Path | str]) -> str:
    """The file list argument of ``read_parquet``, as SQL text (see `parquet_paths`)."""
    return "[" + ", ".join(string_literal(p) for p in parquet_paths(paths)) + "]"
