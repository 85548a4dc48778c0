"""The generated reference pages match the code."""

from __future__ import annotations

from pathlib import Path

from vigil.docgen import DOCS, PAGES


def test_reference_pages_are_current() -> None:
    for name, render in PAGES.items():
        page = DOCS / name
        assert page.exists(), f"{page} is missing: run python -m vigil.docgen"
        assert page.read_text() == render(), f"{page} is stale: run python -m vigil.docgen"


def test_every_command_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    for command in (
        "vigil verify check",
        "vigil dispatch",
        "vigil serve",
        "vigil db upgrade",
        "vigil user create",
        "vigil token create",
        "vigil metrics load",
        "vigil demo",
    ):
        assert f"## `{command}`" in text, command


def test_docs_folder_is_the_repository_one() -> None:
    assert Path(__file__).resolve().parents[1] / "docs" / "reference" == DOCS
