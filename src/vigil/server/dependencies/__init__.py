"""FastAPI dependencies: the per-request factory, authentication and body parsing."""

from .auth import (
    SESSION_COOKIE,
    check_role,
    optional_user,
    read_access,
    require_role,
    require_user,
    session_user,
    token_from_header,
)
from .body import gate_body, json_body, parse_json
from .context import base_url, factory_dependency, process_context

__all__ = [
    "SESSION_COOKIE",
    "base_url",
    "check_role",
    "factory_dependency",
    "gate_body",
    "json_body",
    "optional_user",
    "parse_json",
    "process_context",
    "read_access",
    "require_role",
    "require_user",
    "session_user",
    "token_from_header",
]
