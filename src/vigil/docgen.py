"""Reference pages generated from the code, so that they cannot drift.

``python -m vigil.docgen`` rewrites ``docs/reference/cli.md`` (every command and option of
``vigil``), ``docs/reference/settings.md`` (every ``VIGIL_`` setting) and
``docs/reference/endpoints.md`` (every HTTP endpoint). ``tests/test_docgen.py`` fails when
a committed page differs from what the code says.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import typer

__all__ = ["render_cli", "render_endpoints", "render_settings", "write_all"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found.extend(_walk(command.commands[name], [*path, name]))
    return found


def _param_row(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        name = f"`{param.human_readable_name}`"
        kind = "argument"
    else:
        assert isinstance(param, click.Option)
        name = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        kind = "flag" if param.is_flag else "option"
        if param.envvar:
            envvars = [param.envvar] if isinstance(param.envvar, str) else param.envvar
            name += " (" + ", ".join(f"`{e}`" for e in envvars) + ")"
    help_text = (getattr(param, "help", None) or "").replace("\n", " ").replace("|", "\\|")
    default = param.default if not callable(param.default) else None
    shown = "" if default in (None, False, (), []) else f" Default: `{default}`."
    return f"| {name} | {kind} | {help_text}{shown} |"


def render_cli() -> str:
    """Markdown reference of every ``vigil`` command."""
    from vigil.cli import app

    root = typer.main.get_command(app)
    lines = ["# `vigil` command reference", "",
             "Generated from the code by `python -m vigil.docgen`; do not edit.", ""]
    for path, command in _walk(root, ["vigil"]):
        if command.hidden:
            continue
        lines += [f"## `{' '.join(path)}`", ""]
        if command.help:
            lines += [command.help.strip().split("\f")[0].strip(), ""]
        params = [p for p in command.params if p.name not in ("help", "version")]
        if params:
            lines += ["| name | kind | description |", "|---|---|---|"]
            lines += [_param_row(p) for p in params]
            lines.append("")
    return "\n".join(lines)


def render_settings() -> str:
    """Markdown table of every server setting."""
    from vigil.server.config import Settings

    lines = ["# Server settings", "",
             "Generated from the code by `python -m vigil.docgen`; do not edit.", "",
             "Every setting is read from an environment variable (or a `.env` file).", "",
             "| variable | default | description |", "|---|---|---|"]
    prefix = Settings.model_config.get("env_prefix", "VIGIL_")
    for name, field in Settings.model_fields.items():
        default: Any = field.default
        if field.default_factory is not None:
            default = "(computed)"
        if default is None:
            default = "(none)"
        description = (field.description or "").replace("\n", " ").replace("|", "\\|")
        lines.append(f"| `{prefix}{name.upper()}` | `{default}` | {description} |")
    return "\n".join(lines) + "\n"


def render_endpoints() -> str:
    """Markdown list of every HTTP endpoint of the server, from its OpenAPI description."""
    from vigil.server.config import Settings
    from vigil.server.main import create_app

    app = create_app(Settings(database_url="sqlite://", public_read=True), check_schema=False)
    lines = ["# HTTP endpoints", "",
             "Generated from the code by `python -m vigil.docgen`; do not edit.", ""]
    rows = []
    for route in app.routes:
        methods = sorted(getattr(route, "methods", None) or [])
        path = getattr(route, "path", "")
        if not methods or path.startswith(("/api/docs", "/api/openapi", "/docs", "/openapi")):
            continue
        endpoint = getattr(route, "endpoint", None)
        summary = (endpoint.__doc__ or "").strip().splitlines()[0] if endpoint else ""
        for method in methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            rows.append(f"| `{method}` | `{path}` | {summary} |")
    lines += ["| method | path | description |", "|---|---|---|", *sorted(set(rows))]
    return "\n".join(lines) + "\n"


PAGES = {"cli.md": render_cli, "settings.md": render_settings, "endpoints.md": render_endpoints}


def write_all(folder: Path = DOCS) -> list[Path]:
    """Regenerate every reference page into *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in PAGES.items():
        target = folder / name
        target.write_text(render())
        written.append(target)
    return written


if __name__ == "__main__":
    for page in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS):
        print(f"wrote {page}")
