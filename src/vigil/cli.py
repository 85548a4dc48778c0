"""The ``vigil`` command: one Typer application, one module per area under ``vigil.commands``.

Each area registers its commands with ``register(app)``; the command modules import heavy
dependencies (the server, the database) inside the command bodies so that ``vigil --help``
and the pipeline-side commands stay quick.
"""

from __future__ import annotations

import typer

from vigil import __version__
from vigil.commands import analysis as _analysis
from vigil.commands import client as _client
from vigil.commands import demo as _demo
from vigil.commands import explore as _explore
from vigil.commands import monitor as _monitor
from vigil.commands import plugins as _plugins
from vigil.commands import server as _server
from vigil.commands import verify as _verify

app = typer.Typer(
    name="vigil",
    help="Vigil keeps watch over the quality of scientific data pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Vigil keeps watch over the quality of scientific data pipelines."""


for _area in (_verify, _client, _server, _demo, _analysis, _explore, _monitor, _plugins):
    _area.register(app)


def main() -> None:
    """Entry point of the ``vigil`` console script."""
    app()
