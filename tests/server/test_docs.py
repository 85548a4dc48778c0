"""The server's documentation cannot drift: settings, endpoints and commands are all in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command

from vigil.cli import app as cli_app
from vigil.server.config import Settings, settings_table
from vigil.server.main import create_app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_settings_table_is_the_generated_one() -> None:
    text = (DOCS / "server.md").read_text()
    assert settings_table() in text, "regenerate the table with settings_table()"


def test_every_native_endpoint_is_documented(tmp_path: Path) -> None:
    text = (DOCS / "api.md").read_text()
    schema = create_app(Settings(data_dir=tmp_path)).openapi()
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in operations:
            assert f"`{method.upper()} {path}" in text, f"{method.upper()} {path}"


@pytest.mark.parametrize(
    "group", ["db", "user", "token", "metrics", "artifacts", "job", "metric", "audit"]
)
def test_every_server_command_is_documented(group: str) -> None:
    text = (DOCS / "server.md").read_text()
    command = get_command(cli_app)
    sub = command.commands[group]  # type: ignore[attr-defined]
    for name in sub.commands:
        assert re.search(rf"`vigil {group} {name}\b", text), f"vigil {group} {name}"
    assert "`vigil serve" in text
