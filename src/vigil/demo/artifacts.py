"""Residual images of the deblender benchmark: one small PNG per blend and job.

Each blend is a fixed scene (its sources do not move from run to run); a job's residual
image is the data minus the deblender's model: noise plus the misfit left around each
source, scaled so that its RMS is the job's ``deblend.blend_residual_rms`` for the blend.
All images share one colour scale, so a branch's residuals can be put beside the main
line's and compared by eye.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from vigil.demo import _scenario as sc
from vigil.demo._png import diverging_rgb, encode_png

__all__ = ["IMAGE_SIZE", "RESIDUAL_LIMIT", "generate_artifacts", "residual_image"]

IMAGE_SIZE = 128
"""Width and height of a residual image in pixels (64 model pixels shown 2 x 2)."""
RESIDUAL_LIMIT = 0.2
"""The residual (in units of the blend's peak) shown at full blue or red."""

_PIXELS = 64
_NOISE_SHARE = 0.5  # part of the residual RMS that is pixel noise; the rest is misfit


def _misfit(blend: sc.Blend) -> np.ndarray:
    """The shape of the model misfit of *blend*: a ring and a dipole around each source."""
    scene = np.random.default_rng(zlib.crc32(blend.blend_id.encode()))
    y, x = np.mgrid[0:_PIXELS, 0:_PIXELS].astype(float)
    pattern = np.zeros((_PIXELS, _PIXELS))
    for _ in range(blend.sources):
        cy, cx = scene.uniform(18, _PIXELS - 18, size=2)
        sigma = scene.uniform(2.0, 5.5)
        dy, dx = scene.normal(0.0, 0.6, size=2)
        flux = scene.uniform(0.4, 1.0)
        inner = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
        outer = np.exp(-((y - cy - dy) ** 2 + (x - cx - dx) ** 2) / (2 * (1.2 * sigma) ** 2))
        pattern += flux * (inner - outer / 1.2**2)
    rms = float(np.sqrt(np.mean(pattern**2)))
    return pattern / rms if rms > 0 else pattern


def residual_image(blend_id: str, rms: float, noise_seed: int) -> np.ndarray:
    """The residual of *blend_id* with total RMS *rms*, as an RGB uint8 image."""
    blend = next(b for b in sc.BLENDS if b.blend_id == blend_id)
    noise = np.random.default_rng(noise_seed).standard_normal((_PIXELS, _PIXELS))
    misfit = _misfit(blend)
    residual = rms * (math.sqrt(_NOISE_SHARE) * noise + math.sqrt(1.0 - _NOISE_SHARE) * misfit)
    rgb = diverging_rgb(residual, RESIDUAL_LIMIT)
    scale = IMAGE_SIZE // _PIXELS
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def generate_artifacts(job: Mapping[str, Any]) -> list[tuple[str, bytes, str]]:
    """The files of a demo job: ``(name, content, content type)``.

    A deblender job has one residual image per blend, ``residuals/<blend>.png``; other
    jobs have none. The images are determined by the job (its identifier and values).
    """
    identifier = str(job.get("identifier", ""))
    artifacts = []
    for measurement in job.get("measurements") or []:
        if measurement.get("metric") != "deblend.blend_residual_rms":
            continue
        blend_id = (measurement.get("data_id") or {}).get("blend")
        value = measurement.get("value")
        if blend_id is None or value is None or not math.isfinite(float(value)):
            continue
        seed = zlib.crc32(f"{identifier}/{blend_id}".encode())
        image = residual_image(str(blend_id), float(value), seed)
        artifacts.append((f"residuals/{blend_id}.png", encode_png(image), "image/png"))
    return artifacts
