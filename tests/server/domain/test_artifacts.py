"""Artifact names and the image types allowed inline."""

from __future__ import annotations

import pytest

from vigil.server.domain import check_artifact_name, sniff_image_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


@pytest.mark.parametrize(
    "name", ["plot.png", "residuals/ccd_12.fits", "a b/c-d_e.v2.html", "données.txt"]
)
def test_good_names(name: str) -> None:
    assert check_artifact_name(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/x", "absolute"),
        ("a\\b", "backslash"),
        ("a\nb", "control"),
        ("a\x00b", "control"),
        ("a//b", "empty"),
        ("x" * 1025, "1024"),
    ],
)
def test_bad_names(name: str, reason: str) -> None:
    problem = check_artifact_name(name)
    assert problem is not None and reason in problem


def test_sniffing_trusts_bytes_only() -> None:
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_image_type(b"GIF89a...") == "image/gif"
    assert sniff_image_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"<svg xmlns=") is None
    assert sniff_image_type(b"<html>") is None
