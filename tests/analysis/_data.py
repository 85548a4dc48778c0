"""The series in ``data/`` and their known answers.

``data/<name>.csv`` holds one value a line (empty for a missing value), written by
``data/generate.py``; ``data/cases.json`` says what the analysis must find in each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def load_series(name: str) -> list[float | None]:
    """A series from ``data/<name>.csv``; empty lines are ``None``."""
    lines = (DATA / f"{name}.csv").read_text().splitlines()
    return [float(line) if line.strip() else None for line in lines]


def cases(kind: str) -> list[dict[str, Any]]:
    """The ``series`` or ``gate`` cases of ``data/cases.json``."""
    return list(json.loads((DATA / "cases.json").read_text())[kind])
