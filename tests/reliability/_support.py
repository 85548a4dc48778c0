"""Helpers of the reliability tests: database snapshots and the field an error names."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, inspect, text

__all__ = ["artifact_files", "named_field", "snapshot"]

# Columns that change on a read and say nothing about stored data: a token's last use.
_VOLATILE = {("tokens", "last_used_at")}


def snapshot(database: str | Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows, to prove nothing changed.

    *database* is a URL or, to take many snapshots cheaply, an engine.
    """
    engine = create_engine(database) if isinstance(database, str) else database
    try:
        with engine.connect() as connection:
            found: dict[str, tuple[int, str]] = {}
            inspector = inspect(connection)
            for table in sorted(inspector.get_table_names()):
                if table == "alembic_version":
                    continue
                columns = [
                    c["name"]
                    for c in inspector.get_columns(table)
                    if (table, c["name"]) not in _VOLATILE
                ]
                listed = ", ".join(f'"{c}"' for c in columns)
                rows = connection.execute(text(f'SELECT {listed} FROM "{table}"')).all()
                digest = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
                found[table] = (len(rows), digest)
            return found
    finally:
        if isinstance(database, str):
            engine.dispose()


def artifact_files(folder: Path) -> list[str]:
    """The files under an artifact folder, relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def named_field(response: httpx.Response) -> str | None:
    """The input field an error response names, in any of the server's error shapes.

    ``{"detail": {"field": ...}}`` (native API), ``{"field": ...}`` (SQuaSH surface) and
    FastAPI's ``{"detail": [{"loc": ["query", "limit"], ...}]}`` (``limit``).
    """
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, dict):
        return detail.get("field")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = [str(part) for part in detail[0].get("loc", [])]
        return ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc) or None
    field = body.get("field")
    return field if isinstance(field, str) else None
