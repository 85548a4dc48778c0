"""Fixtures of the demo tests: the full default history, generated once."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.demo import DemoDefinitions, DemoHistory, load_definitions


@pytest.fixture(scope="session")
def definitions() -> DemoDefinitions:
    """The demo's definitions, read once (from ../shared/conformance when present)."""
    return load_definitions()


@pytest.fixture(scope="session")
def history(definitions: DemoDefinitions) -> DemoHistory:
    """The default demo history (180 nights, default seed)."""
    return DemoHistory(definitions=definitions)


@pytest.fixture(scope="session")
def jobs(history: DemoHistory) -> list[dict[str, Any]]:
    """Every job of the default history, as dicts."""
    return list(history.jobs())
