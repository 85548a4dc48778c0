"""The API model of a FITS image pair compared by value (``GET /api/compare/fits``)."""

from __future__ import annotations

import base64

import numpy as np
from pydantic import BaseModel, Field

from ...services.compare import FitsComparison

__all__ = ["FitsValuesModel"]


class FitsValuesModel(BaseModel):
    """``GET /api/compare/fits``: the values of one FITS artifact in two jobs, and A - B.

    ``values`` is base64 of little-endian float32: A, then B (in A's unit), then A - B
    (computed in float64, then rounded), each ``height x width``, row-major, the first
    row being FITS row 1 (the bottom of the image); NaN where blank.
    """

    name: str
    note: str | None = Field(description="Why the pair is not compared by value, else null.")
    notes: list[str] = Field(description="What was done to compare them (unit conversion).")
    unit: str = Field(description="The physical unit (A's BUNIT); empty when unknown.")
    width: int
    height: int
    hdu_a: str | None
    hdu_b: str | None
    low: float = Field(description="Low end of the stretch shared by A and B.")
    high: float = Field(description="High end of the stretch shared by A and B.")
    limit: float = Field(description="The difference is drawn from -limit to +limit.")
    max_abs: float | None = Field(description="The largest |A - B|.")
    differing: int = Field(description="Pixels where A and B differ.")
    values: str | None

    @classmethod
    def from_domain(cls, c: FitsComparison) -> FitsValuesModel:
        """The values of a comparison."""
        values = None
        if c.a is not None and c.b is not None and c.difference is not None:
            stacked = np.concatenate([c.a.ravel(), c.b.ravel(), c.difference.ravel()])
            values = base64.b64encode(stacked.astype("<f4").tobytes()).decode("ascii")
        return cls(
            name=c.name,
            note=c.note,
            notes=c.notes,
            unit=c.unit,
            width=c.width,
            height=c.height,
            hdu_a=c.hdu_a,
            hdu_b=c.hdu_b,
            low=c.low,
            high=c.high,
            limit=c.limit,
            max_abs=c.max_abs,
            differing=c.differing,
            values=values,
        )
