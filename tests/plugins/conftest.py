"""Fixtures of the plugin tests: the example plugin (``tests/plugins/vigil_example``),
installed by pip into a folder of its own, and the server fixtures of
``tests/server/conftest.py``.

``example_site``
    The folder pip installed the example into (once per session); put it on
    ``PYTHONPATH`` for a subprocess.
``example_plugins``
    The example's folder on this process's ``sys.path`` and the entry points read again,
    for one test; both undone afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.conftest import (  # noqa: F401  (fixtures shared with the server tests)
    _postgres_url,
    _sqlite_template,
    app,
    auth_headers,
    client,
    db_url,
    factory,
    make_app,
    make_settings,
    settings,
    token,
)
from vigil.plugins import Plugins, clear_plugins, load_plugins

EXAMPLE = Path(__file__).resolve().parent / "vigil_example"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed by pip, as a user would (no network needed)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(EXAMPLE),
        ],
        check=True,
    )
    return site


def _forget(site: Path) -> None:
    while str(site) in sys.path:
        sys.path.remove(str(site))
    for name in [m for m in sys.modules if m == "vigil_example" or m.startswith("vigil_example.")]:
        del sys.modules[name]
    clear_plugins()


@pytest.fixture
def example_plugins(example_site: Path) -> Iterator[Plugins]:
    """The example plugin, loaded in this process for one test."""
    sys.path.insert(0, str(example_site))
    clear_plugins()
    try:
        yield load_plugins()
    finally:
        _forget(example_site)
