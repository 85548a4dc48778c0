"""Small job documents shared by the ingest tests."""

from __future__ import annotations

from typing import Any


def two_metric_job(identifier: str, value: float = 1.0, unit: str = "mmag") -> dict[str, Any]:
    """A job of two measurements: ``demo.PA1`` (in *unit*, band r) and ``demo.AM1``."""
    return {
        "identifier": identifier,
        "measurements": [
            {"metric": "demo.PA1", "value": value, "unit": unit, "data_id": {"band": "r"}},
            {"metric": "demo.AM1", "value": value, "unit": "arcsec", "data_id": {"tract": 1}},
        ],
        "meta": {"env": {"ci_dataset": "hsc"}},
    }
