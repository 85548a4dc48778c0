"""The one test for URLs that come from user data, shared by pages and emails.

It lives outside the handlers so that services (the notification emails) use the same
rule as the dashboard's templates (`vigil.server.handlers.web._format` re-exports it).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["safe_url"]

_WEB_SCHEMES = ("http", "https")
# Browsers drop ASCII tabs and newlines anywhere in a URL and C0 controls and spaces at
# its ends ("java\tscript:" is "javascript:"): a URL holding any of them is refused.
_NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f]")


def safe_url(url: Any) -> str | None:
    """*url* (without surrounding blanks) if it is an absolute http or https URL, else None.

    The one test for URLs that come from user data (a job's CI run, a repository, a
    log run's links): a page or an email links only what passes it and shows anything
    else as text, so that no ``javascript:``, ``data:`` or other scheme becomes a link.
    """
    if not isinstance(url, str):
        return None
    text = url.strip()
    if _NOT_IN_URLS.search(text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.netloc:
        return None
    return text
