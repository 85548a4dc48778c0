"""Residual images: valid PNG files, deterministic, showing a regression."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest

from vigil.demo import (
    PNG_SIGNATURE,
    DemoHistory,
    decode_png,
    encode_png,
    generate_artifacts,
    png_info,
)
from vigil.demo.artifacts import IMAGE_SIZE

try:
    from PIL import Image
except ImportError:  # Pillow is optional: the pure reader below checks the same things.
    Image = None  # type: ignore[assignment]


def _ihdr(data: bytes) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type, read by hand from the IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


@pytest.mark.parametrize("shape", [(5, 7), (6, 4, 3), (3, 9, 4)])
def test_png_round_trip(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    data = encode_png(image)
    width, height, depth, colour = _ihdr(data)
    assert (width, height, depth) == (shape[1], shape[0], 8)
    assert colour == {2: 0, 3: 2}[len(shape)] if len(shape) == 2 or shape[2] == 3 else colour == 6
    assert np.array_equal(decode_png(data), image)
    if Image is not None:
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_png_errors() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((2, 2), dtype=float))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 2), dtype=np.uint8))
    data = bytearray(encode_png(np.zeros((4, 4), dtype=np.uint8)))
    with pytest.raises(ValueError, match="signature"):
        png_info(b"GIF89a" + bytes(data[6:]))
    data[20] ^= 0xFF  # corrupt the IHDR
    with pytest.raises(ValueError, match="CRC"):
        decode_png(bytes(data))


def _deblend_job(jobs: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    return next(j for j in jobs if j["identifier"].endswith(suffix))


def test_one_residual_image_per_blend(jobs: list[dict[str, Any]]) -> None:
    job = _deblend_job(jobs, "deblend-main-n010")
    artifacts = generate_artifacts(job)
    blends = sorted(m["data_id"]["blend"] for m in job["measurements"] if m.get("data_id"))
    assert sorted(name for name, _, _ in artifacts) == sorted(
        {f"residuals/{b}.png" for b in blends}
    )
    for _name, content, content_type in artifacts:
        assert content_type == "image/png"
        assert _ihdr(content) == (IMAGE_SIZE, IMAGE_SIZE, 8, 2)
        assert png_info(content).channels == 3
        assert decode_png(content).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        if Image is not None:
            assert Image.open(io.BytesIO(content)).size == (IMAGE_SIZE, IMAGE_SIZE)
        assert len(content) < 40_000
    assert generate_artifacts(job) == artifacts


def test_validate_drp_jobs_have_no_artifacts(jobs: list[dict[str, Any]]) -> None:
    assert generate_artifacts(jobs[0]) == []


def _colour(content: bytes) -> float:
    """How far an image is from white on average: bigger residuals are more colourful."""
    return float(np.mean(255 - decode_png(content).astype(float)))


def test_a_branch_regression_shows_in_its_images(
    history: DemoHistory, jobs: list[dict[str, Any]]
) -> None:
    change = next(c for c in history.injected_changes() if c.metric.endswith("residual_rms"))
    bad = generate_artifacts(_deblend_job(jobs, change.identifier))
    main_jobs = [j for j in jobs if "-deblend-main-" in j["identifier"]]
    baseline = [j for j in main_jobs if int(j["identifier"][-3:]) <= change.index][-1]
    main = generate_artifacts(baseline)
    assert [n for n, _, _ in bad] == [n for n, _, _ in main]
    ratio = np.mean(
        [_colour(b) / _colour(m) for (_, b, _), (_, m, _) in zip(bad, main, strict=True)]
    )
    assert ratio > 1.1
