"""Command-line areas of ``vigil``; each module exposes ``register(app)``."""
