"""Realistic demo data: six months of nightly CI of two pipelines, with known changes.

``generate_history`` yields lsst.verify jobs (validate_drp on HSC and CFHT data, and a
deblender on main and on pull-request branches); ``injected_changes`` is their ground
truth; ``generate_artifacts`` makes the residual images of a deblender job. The server
side (``vigil demo``) is in ``vigil.demo.loader``, which needs the server extra.
"""

from vigil.demo._png import PNG_SIGNATURE, PngInfo, decode_png, encode_png, png_info
from vigil.demo.artifacts import generate_artifacts
from vigil.demo.definitions import (
    DEBLEND_METRICS,
    VALIDATE_DRP_METRICS,
    DemoDefinitions,
    default_metrics_path,
    load_definitions,
)
from vigil.demo.history import (
    DEFAULT_DAYS,
    DEFAULT_SEED,
    DEFAULT_START,
    DemoHistory,
    InjectedChange,
    generate_history,
    injected_changes,
    series_data_ids,
)

__all__ = [
    "DEBLEND_METRICS",
    "DEFAULT_DAYS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "PNG_SIGNATURE",
    "VALIDATE_DRP_METRICS",
    "DemoDefinitions",
    "DemoHistory",
    "InjectedChange",
    "PngInfo",
    "decode_png",
    "default_metrics_path",
    "encode_png",
    "generate_artifacts",
    "generate_history",
    "injected_changes",
    "load_definitions",
    "png_info",
    "series_data_ids",
]
