"""HTTP handlers: ``api`` (native), ``squash`` (SQuaSH-compatible) and the docs page."""
