"""The server fixtures (SQLite and PostgreSQL databases, settings, factory, token), for the
commands that talk to a server."""

from server.conftest import (  # noqa: F401
    _postgres_url,
    _sqlite_template,
    auth_headers,
    db_url,
    factory,
    make_settings,
    settings,
    token,
)
