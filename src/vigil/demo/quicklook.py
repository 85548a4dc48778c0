"""A simulated DESI-like quick-look pipeline for ``vigil monitor demo`` and the monitor's
tests: the pipeline and its exposures, and the monitor configuration that runs it.

The simulation itself (`ExposureGenerator`, the per-camera pipeline, its QA models) is
`PIPELINE_SCRIPT`, a module that runs as a script with only the standard library so that
30 cameras start quickly; its public names are importable from here. This module adds
DESI's mapping files written out (`write_mappings`), the per-camera command
(`unit_command`) and a whole ``vigil monitor`` configuration (`demo_config`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _ql_pipeline
from ._ql_pipeline import (
    BUILTIN_MAPPINGS,
    DEFAULT_UNITS,
    QA_MODELS,
    ExposureGenerator,
    QaModel,
    default_mapping_dir,
    main,
)

__all__ = [
    "BUILTIN_MAPPINGS",
    "BUILTIN_TRENDS",
    "DEFAULT_UNITS",
    "PIPELINE_SCRIPT",
    "QA_MODELS",
    "ExposureGenerator",
    "QaModel",
    "default_mapping_dir",
    "demo_config",
    "main",
    "unit_command",
    "write_mappings",
]

PIPELINE_SCRIPT = Path(_ql_pipeline.__file__).resolve()
"""The simulated pipeline, run as a script (standard library only) once per camera."""

BUILTIN_TRENDS: dict[str, dict[str, str]] = {
    "skybrightness": {
        "display": "SKY BRIGHTNESS",
        "path": "TASKS->CHECK_SPECTRA->METRICS->PEAKCOUNT",
    },
    "airmass": {"display": "AIRMASS", "path": "GENERAL_INFO->AIRMASS"},
    "bias": {"display": "BIAS", "path": "TASKS->CHECK_CCDs->METRICS->BIAS_AMP"},
    "noise": {"display": "NOISE", "path": "TASKS->CHECK_CCDs->METRICS->NOISE_AMP"},
}
"""DESI's trend mapping (``ql_mapping_metrics.json``)."""


def write_mappings(folder: Path, source: Path | None = None) -> dict[str, Path]:
    """Put DESI's mapping files in *folder*: copies of *source*'s, else the built-in ones.

    Returns
    -------
    dict
        ``{"science": path, "arc": path, "flat": path, "metrics": path}``.
    """
    source = source or default_mapping_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    documents: dict[str, Any] = {**BUILTIN_MAPPINGS, "metrics": BUILTIN_TRENDS}
    for name, document in documents.items():
        target = folder / f"ql_mapping_{name}.json"
        original = source / target.name
        if original.is_file():
            target.write_bytes(original.read_bytes())
        else:
            target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written[name] = target
    return written


def unit_command(
    *, step_seconds: float, seed: int, failure_rate: float, mapping: bool = False
) -> list[str]:
    """The monitor's ``run.command`` for the simulated pipeline (placeholders unfilled)."""
    command = [
        sys.executable,
        str(PIPELINE_SCRIPT),
        "unit",
        "--camera", "{unit}",
        "--exposure", "{exposure}",
        "--flavor", "{flavor}",
        "--night", "{night}",
        "--program", "{program}",
        "--raw", "{path}",
        "--output", "{output}",
        "--step-seconds", f"{step_seconds:g}",
        "--seed", str(seed),
        "--failure-rate", f"{failure_rate:g}",
    ]  # fmt: skip
    return command


def demo_config(
    folder: Path,
    *,
    server_url: str | None,
    units: str | Sequence[str] = DEFAULT_UNITS,
    step_seconds: float = 2.0,
    seed: int = 42,
    failure_rate: float = 0.03,
    max_parallel: int = 10,
    poll_interval: float = 0.5,
) -> dict[str, Any]:
    """A monitor configuration running the simulated pipeline on exposures in *folder*/raw.

    DESI's mapping files are written to *folder*/mapping and read from there as they are.
    """
    mappings = write_mappings(folder / "mapping")
    return {
        "pipeline": "desi-quicklook",
        "server": {"url": server_url, "spool": str(folder / "spool")},
        "exposures": {
            "watch": str(folder / "raw"),
            "pattern": "*/*/desi-*.fits",
            "poll_interval": poll_interval,
            "settle": 0.0,
            "existing": "process",
        },
        "units": units if isinstance(units, str) else list(units),
        "run": {
            "command": unit_command(
                step_seconds=step_seconds, seed=seed, failure_rate=failure_rate
            ),
            "workdir": str(folder / "work"),
            "output": "{workdir}/{night}/{exposure}/{unit}",
            "max_parallel": max_parallel,
            "timeout": max(60.0, step_seconds * 20),
            "qa_files": "ql-*-{unit}-{exposure}.json",
        },
        "flavors": {
            flavor: {"mapping": str(mappings[flavor])} for flavor in ("science", "arc", "flat")
        },
        "trends": str(mappings["metrics"]),
        "layout": "desi",
    }


if __name__ == "__main__":
    sys.exit(main())
