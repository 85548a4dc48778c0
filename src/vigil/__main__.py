"""``python -m vigil`` runs the ``vigil`` command."""

from vigil.cli import main

main()
