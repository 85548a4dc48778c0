"""The tracking server: native API, SQuaSH-compatible API, database and artifact store.

Build the application with `vigil.server.main.create_app`; services are reached through
`vigil.server.factory.Factory`.
"""
