"""``vigil plugins``: the installed extensions of Vigil (`vigil.plugins`), and any left out."""

from __future__ import annotations

import typer

__all__ = ["plugins", "register"]


def plugins() -> None:
    """List the installed plugins: every entry point of the groups vigil.metrics,
    vigil.blob_renderers and vigil.qa_plots, its distribution, and why it was left out
    (an import error, the wrong kind of object, a name clashing with a built-in).

    Exits 1 when an entry point was left out.
    """
    from vigil.plugins import GROUPS, load_plugins

    loaded = load_plugins()
    if not loaded.entries:
        typer.echo(f"No plugin is installed (entry-point groups: {', '.join(GROUPS)}).")
        return
    for entry in loaded.entries:
        status = "loaded" if entry.error is None else f"left out: {entry.error}"
        typer.echo(f"{entry.group}  {entry.name} = {entry.value}  ({entry.distribution})  {status}")
    if loaded.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command("plugins")(plugins)
