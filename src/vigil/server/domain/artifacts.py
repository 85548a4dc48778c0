"""Artifacts (files attached to jobs) and the rules for their names and types."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

__all__ = ["INLINE_CONTENT_TYPES", "Artifact", "check_artifact_name", "sniff_image_type"]

INLINE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Raster images, safe to show inline; everything else is served as an attachment."""


@dataclass(slots=True)
class Artifact:
    """A file of a job; its content is stored once per SHA-256."""

    id: int
    job_id: int
    name: str
    sha256: str
    size: int
    content_type: str
    created_at: datetime

    @property
    def inline(self) -> bool:
        """Whether a browser may show it in place (raster images only)."""
        return self.content_type in INLINE_CONTENT_TYPES


def check_artifact_name(name: str) -> str | None:
    """Why *name* is not an acceptable artifact name, or None if it is.

    A name is a relative path of at most 1024 characters, with ``/`` separators, no
    empty, ``.`` or ``..`` parts, no backslash and no control characters.
    """
    if not name:
        return "is empty"
    if len(name) > 1024:
        return "is longer than 1024 characters"
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        return "contains control characters"
    if "\\" in name:
        return "contains a backslash; use '/' between folders"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path; give a path relative to the job"
    parts = name.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        return "has an empty, '.' or '..' path part"
    return None


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image_type(head: bytes) -> str | None:
    """The raster image type that the first bytes of a file prove, or None.

    A declared type is never trusted for inline display: only these signatures are.
    """
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
