"""FITS images compared by value: the pixels of A, B and A - B in physical units.

The compare page draws PNG artifacts from their colour levels; a FITS artifact carries
the values themselves. `compare_fits` reads the first 2-D image of each file (primary
or extension, tile-compressed included; degenerate axes dropped), converts B to A's
``BUNIT`` when they differ, and gives both images, their difference computed in
float64 and the stretches the page draws them with:

- one *shared* stretch for A and B, the 0.5th to 99.5th percentile of the finite
  values of both, so that the same colour means the same value on both sides;
- a symmetric stretch for the difference, ``±`` the 99.5th percentile of ``|A - B|``.

Anything that is not such a pair (not FITS, corrupt, no image, a cube, different
shapes or units, larger than `MAX_FITS_PIXELS` or `MAX_FITS_BYTES`) gives a
`FitsComparison` with a ``note`` that says why, never an error.
"""

from __future__ import annotations

import gzip
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vigil.verify.units import conversion_factor

from ..domain import Artifact
from .artifacts import ArtifactService

__all__ = [
    "FITS_SUFFIXES",
    "MAX_FITS_BYTES",
    "MAX_FITS_HDUS",
    "MAX_FITS_PIXELS",
    "FitsComparison",
    "FitsImage",
    "FitsReadError",
    "compare_fits",
    "compare_fits_artifacts",
    "is_fits_name",
    "read_fits_image",
]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
"""Artifact names compared as FITS images (any case)."""
MAX_FITS_PIXELS = 2048 * 2048
"""The largest image compared by value, in pixels (each side)."""
MAX_FITS_BYTES = 128 * 1024 * 1024
"""The largest FITS file read (after gunzip), in bytes."""
MAX_FITS_HDUS = 32
"""HDUs looked through for the first image."""

_STRETCH = (0.5, 99.5)


class FitsReadError(ValueError):
    """A file that cannot be compared as a FITS image; the message says why."""


@dataclass(slots=True)
class FitsImage:
    """The first 2-D image of a FITS file, as float64 (NaN where blank)."""

    data: NDArray[np.float64]
    unit: str
    hdu: str


@dataclass(slots=True)
class FitsComparison:
    """A and B of one FITS artifact, and A - B, ready to draw.

    Attributes
    ----------
    note
        Why the pair cannot be compared by value (then no arrays), else None.
    unit
        The physical unit of the values (A's ``BUNIT``; ``""`` when it has none).
    a, b, difference
        Row-major ``height x width`` arrays; ``difference`` is ``A - B`` in float64.
    low, high
        The shared stretch of A and B.
    limit
        The difference is drawn from ``-limit`` to ``+limit``.
    """

    name: str
    note: str | None = None
    unit: str = ""
    width: int = 0
    height: int = 0
    hdu_a: str | None = None
    hdu_b: str | None = None
    a: NDArray[np.float64] | None = None
    b: NDArray[np.float64] | None = None
    difference: NDArray[np.float64] | None = None
    low: float = 0.0
    high: float = 1.0
    limit: float = 1.0
    max_abs: float | None = None
    differing: int = 0
    notes: list[str] = field(default_factory=list)


def is_fits_name(name: str) -> bool:
    """Whether an artifact of this name is compared as a FITS image."""
    return name.lower().endswith(FITS_SUFFIXES)


def read_fits_image(raw: bytes) -> FitsImage:
    """The first 2-D image of a FITS file (gzip-compressed or not).

    Raises
    ------
    FitsReadError
        Not FITS, corrupt, too large, or no 2-D image in its first `MAX_FITS_HDUS`.
    """
    from astropy.io import fits

    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(MAX_FITS_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise FitsReadError(f"is not a readable gzip file ({exc})") from None
        if len(raw) > MAX_FITS_BYTES:
            raise FitsReadError(f"is larger than {MAX_FITS_BYTES // 2**20} MiB once unzipped")
    if not raw.startswith(b"SIMPLE  ="):
        raise FitsReadError("is not a FITS file (it does not start with SIMPLE)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _first_image(fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=True))
        except FitsReadError:
            raise
        except Exception as exc:
            # astropy raises many kinds of errors on damaged files (OSError, ValueError,
            # TypeError, IndexError...): any of them means "cannot be read".
            raise FitsReadError(f"cannot be read as FITS ({type(exc).__name__}: {exc})") from None


def _first_image(hdul: object) -> FitsImage:
    from astropy.io import fits

    assert isinstance(hdul, fits.HDUList)
    with hdul:
        for index in range(MAX_FITS_HDUS):
            try:
                hdu = hdul[index]
            except IndexError:
                break
            if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                continue
            header = hdu.header
            naxis = int(header.get("NAXIS", 0))
            axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
            shape = [n for n in axes if n != 1]
            if not axes or 0 in axes:
                continue
            if len(shape) != 2:
                raise FitsReadError(
                    f"has a {len(shape)}-D image in HDU {index} ({' x '.join(map(str, axes))}):"
                    " only 2-D images are compared by value"
                )
            width, height = shape
            if width * height > MAX_FITS_PIXELS:
                raise FitsReadError(
                    f"is a {width} x {height} image: larger than the {MAX_FITS_PIXELS:,} pixels"
                    " compared by value"
                )
            data = np.asarray(hdu.data, dtype=np.float64).reshape(height, width)
            unit = str(header.get("BUNIT", "") or "").strip()
            return FitsImage(data=data, unit=unit, hdu=hdu.name or str(index))
    raise FitsReadError("has no 2-D image")


def compare_fits(name: str, raw_a: bytes, raw_b: bytes) -> FitsComparison:
    """A, B and A - B of the FITS artifact *name* of two jobs, or a note saying why not."""
    images = []
    for side, raw in (("A", raw_a), ("B", raw_b)):
        try:
            images.append(read_fits_image(raw))
        except FitsReadError as exc:
            return FitsComparison(name=name, note=f"{name} of job {side} {exc}.")
    a, b = images
    if a.data.shape != b.data.shape:
        (ha, wa), (hb, wb) = a.data.shape, b.data.shape
        return FitsComparison(
            name=name,
            note=f"The images differ in size (A {wa} x {ha}, B {wb} x {hb}): a difference by"
            " value needs the same pixels.",
        )
    notes = []
    b_data = b.data
    if a.unit != b.unit:
        factor = conversion_factor(b.unit, a.unit) if a.unit and b.unit else None
        if factor is None:
            return FitsComparison(
                name=name,
                note=f"The images are in different units (A {a.unit or 'none'},"
                f" B {b.unit or 'none'}) that do not convert.",
            )
        b_data = b_data * factor
        notes.append(f"B converted from {b.unit} to {a.unit}.")
    difference = a.data - b_data
    height, width = a.data.shape
    both = np.concatenate([a.data.ravel(), b_data.ravel()])
    both = both[np.isfinite(both)]
    low, high = (float(v) for v in np.percentile(both, _STRETCH)) if both.size else (0.0, 1.0)
    if not high > low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    finite = np.abs(difference[np.isfinite(difference)])
    max_abs = float(finite.max()) if finite.size else None
    limit = float(np.percentile(finite, _STRETCH[1])) if finite.size else 0.0
    limit = limit or (max_abs or 0.0) or 1.0
    return FitsComparison(
        name=name,
        unit=a.unit,
        width=width,
        height=height,
        hdu_a=a.hdu,
        hdu_b=b.hdu,
        a=a.data,
        b=b_data,
        difference=difference,
        low=low,
        high=high,
        limit=limit,
        max_abs=max_abs,
        differing=int(np.count_nonzero(finite)),
        notes=notes,
    )


def compare_fits_artifacts(
    artifacts: ArtifactService, a_job: int, b_job: int, name: str
) -> FitsComparison:
    """`compare_fits` of the artifact *name* of jobs *a_job* and *b_job*.

    Raises
    ------
    ArtifactNotFoundError
        A job has no such artifact.
    """
    found = [artifacts.get_artifact(a_job, name), artifacts.get_artifact(b_job, name)]
    if not is_fits_name(name):
        return FitsComparison(name=name, note=f"{name} is not named as a FITS file.")
    raws = []
    for side, artifact in zip("AB", found, strict=True):
        if artifact.size > MAX_FITS_BYTES:
            return FitsComparison(
                name=name,
                note=f"{name} of job {side} is {artifact.size:,} bytes: larger than the"
                f" {MAX_FITS_BYTES // 2**20} MiB compared by value.",
            )
        raws.append(_read(artifacts, artifact))
    return compare_fits(name, raws[0], raws[1])


def _read(artifacts: ArtifactService, artifact: Artifact) -> bytes:
    buffer = bytearray()
    for chunk in artifacts.content(artifact):
        buffer += chunk
        if len(buffer) > MAX_FITS_BYTES:
            break
    return bytes(buffer)
