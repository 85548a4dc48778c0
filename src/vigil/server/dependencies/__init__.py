"""FastAPI dependencies: the per-request factory, authentication and body parsing."""

from .auth import optional_user, read_access, require_user, token_from_header
from .body import json_body, parse_json
from .context import base_url, factory_dependency, process_context

__all__ = [
    "base_url",
    "factory_dependency",
    "json_body",
    "optional_user",
    "parse_json",
    "process_context",
    "read_access",
    "require_user",
    "token_from_header",
]
