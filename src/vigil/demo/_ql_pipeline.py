"""A simulated DESI-like quick-look pipeline and a stream of simulated exposures.

Two parts, for ``vigil monitor demo`` and the monitor's tests:

- `ExposureGenerator` writes exposures as the spectrograph's data system would: one
  header-only FITS file per exposure, ``<night>/<expid>/desi-<expid>.fits``, with
  ``EXPID``, ``NIGHT``, ``FLAVOR`` (arc, flat, science), ``PROGRAM``, ``AIRMASS``,
  ``SEEING``, ``SKYBRT``, ``EXPTIME``, ``TELRA``, ``TELDEC`` and ``DATE-OBS``.
- The per-camera pipeline (``python _ql_pipeline.py unit ...``, run by the monitor once per
  camera) walks the steps of DESI's Quick Look mapping for the exposure's flavor: it logs
  DESI-style lines including each step's start and end markers, takes a little time per
  step, and writes one QA file per QA of the step (``ql-<qa>-<camera>-<expid>.json`` with
  ``METRICS`` and ``PARAMS`` as desispec writes them). Values are noise around nominal
  levels, so most QAs are normal with occasional warnings and alarms, and now and then a
  camera fails with a traceback. Everything is determined by the seed, the exposure and
  the camera.

The step definitions are DESI's ``ql_mapping_<flavor>.json`` files, read from
``../shared/conformance/qlf`` beside the repository when present, else from an identical
built-in copy. Run as a script, this module imports only the standard library, so that 30
cameras start quickly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "BUILTIN_MAPPINGS",
    "DEFAULT_UNITS",
    "QA_MODELS",
    "ExposureGenerator",
    "QaModel",
    "default_mapping_dir",
    "draw_qa",
    "main",
    "run_unit",
]

DEFAULT_UNITS = "b0-b9 r0-r9 z0-z9"
"""DESI's 30 cameras: three arms (b, r, z) of ten spectrographs."""

_CCD_QA = [
    {"display_name": "Noise AMP", "status_key": "NOISE_AMP_STATUS", "name": "rms"},
    {"display_name": "Bias AMP", "status_key": "BIAS_AMP_STATUS", "name": "bias"},
    {"display_name": "LITFRAC AMP", "status_key": "LITFRAC_AMP_STATUS", "name": "countpix"},
]
_XWSIGMA = {"display_name": "XWSIGMA", "status_key": "XWSIGMA_STATUS", "name": "xwsigma"}
_FIBER_QA = [
    {"display_name": "NGOODFIB", "status_key": "NGOODFIB_STATUS", "name": "countbins"},
    {"display_name": "XYSHIFTS", "status_key": "XYSHIFTS_STATUS", "name": "xyshifts"},
]


def _ccd_step(qa: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "display_name": "CHECK CCDS",
        "name": "CHECK_CCDs",
        "start": "Starting to run step Initialize",
        "end": "Starting to run step Flexure",
        "qa_list": qa,
    }


def _fiber_step(end: str) -> dict[str, Any]:
    return {
        "display_name": "CHECK FIBERS",
        "name": "CHECK_FIBERS",
        "start": "Starting to run step Flexure",
        "end": end,
        "qa_list": _FIBER_QA,
    }


BUILTIN_MAPPINGS: dict[str, dict[str, Any]] = {
    "science": {
        "flavor": "science",
        "step_list": [
            _ccd_step([*_CCD_QA, _XWSIGMA]),
            _fiber_step("Starting to run step ApplyFiberFlat_QP"),
            {
                "display_name": "CHECK SPECTRA",
                "name": "CHECK_SPECTRA",
                "start": "Starting to run step ApplyFiberFlat_QP",
                "end": "Pipeline completed",
                "qa_list": [
                    {
                        "display_name": "PEAKCOUNT",
                        "status_key": "PEAKCOUNT_STATUS",
                        "name": "peakcount",
                    },
                    {"display_name": "SKYCONT", "status_key": "SKYCONT_STATUS", "name": "skycont"},
                    {
                        "display_name": "DELTAMAG TGT",
                        "status_key": "DELTAMAG_TGT_STATUS",
                        "name": "integ",
                    },
                    {"display_name": "SNR", "status_key": "FIDSNR_TGT_STATUS", "name": "snr"},
                    {
                        "display_name": "SKYRBAND",
                        "status_key": "SKYRBAND_STATUS",
                        "name": "skyrband",
                    },
                ],
            },
        ],
    },
    "arc": {
        "flavor": "arc",
        "step_list": [
            _ccd_step([*_CCD_QA, _XWSIGMA]),
            _fiber_step("Starting to run step ResolutionFit"),
            {
                "display_name": "CHECK ARC EXP",
                "name": "CHECK_ARC",
                "start": "Starting to run step ResolutionFit",
                "end": "Pipeline processing finished",
                "qa_list": [
                    {
                        "display_name": "CHECKARC",
                        "status_key": "CHECKARC_STATUS",
                        "name": "checkarc",
                    }
                ],
            },
        ],
    },
    "flat": {
        "flavor": "flat",
        "step_list": [
            _ccd_step(list(_CCD_QA)),
            _fiber_step("Starting to run step ComputeFiberflat_QP"),
            {
                "display_name": "CHECK FIBERFLAT",
                "name": "CHECK_FIBERFLAT",
                "start": "Starting to run step ComputeFiberflat_QP",
                "end": "Pipeline completed",
                "qa_list": [
                    {
                        "display_name": "CHECKFLAT",
                        "status_key": "CHECKFLAT_STATUS",
                        "name": "checkflat",
                    }
                ],
            },
        ],
    },
}
"""DESI's Quick Look step mappings (desihub/qlf, 2019) as ``ql_mapping_<flavor>.json`` has them."""


def default_mapping_dir() -> Path:
    """``../shared/conformance/qlf`` beside the repository (nowhere in an installed package)."""
    repository = Path(__file__).resolve().parents[3]
    return repository.parent / "shared" / "conformance" / "qlf"


# QA values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QaModel:
    """How the simulated pipeline draws one QA value.

    Attributes
    ----------
    reference
        The nominal value of each element (the length is the number of elements).
    sigma
        Scatter of each element around its reference.
    normal, warning
        The ranges written in ``PARAMS`` (relative to the reference).
    integer
        Round the values.
    """

    reference: tuple[float, ...]
    sigma: float
    normal: tuple[float, float]
    warning: tuple[float, float]
    integer: bool = False


QA_MODELS: dict[str, QaModel] = {
    "NOISE_AMP": QaModel((3.4, 3.6, 3.3, 3.5), 0.22, (-0.5, 0.5), (-1.0, 1.0)),
    "BIAS_AMP": QaModel((1002.0, 998.5, 1001.2, 999.8), 0.9, (-2.5, 2.5), (-5.0, 5.0)),
    "LITFRAC_AMP": QaModel((0.34, 0.35, 0.33, 0.34), 0.012, (-0.03, 0.03), (-0.06, 0.06)),
    "XWSIGMA": QaModel((1.12, 1.22), 0.025, (-0.07, 0.07), (-0.14, 0.14)),
    "NGOODFIB": QaModel((497.0,), 1.4, (-4.0, 4.0), (-8.0, 8.0), integer=True),
    "XYSHIFTS": QaModel((0.0, 0.0), 0.045, (-0.12, 0.12), (-0.25, 0.25)),
    "PEAKCOUNT": QaModel((265.0,), 14.0, (-40.0, 40.0), (-80.0, 80.0)),
    "SKYCONT": QaModel((212.0,), 9.0, (-25.0, 25.0), (-50.0, 50.0)),
    "DELTAMAG_TGT": QaModel((0.02, -0.01, 0.05, 0.0), 0.05, (-0.15, 0.15), (-0.3, 0.3)),
    "FIDSNR_TGT": QaModel((6.8, 5.9, 4.2, 12.5), 0.5, (-1.5, 1.5), (-3.0, 3.0)),
    "SKYRBAND": QaModel((21.1,), 0.1, (-0.3, 0.3), (-0.6, 0.6)),
    "CHECKARC": QaModel((1.02, 1.05, 0.98), 0.02, (-0.06, 0.06), (-0.12, 0.12)),
    "CHECKFLAT": QaModel((1.0,), 0.012, (-0.04, 0.04), (-0.08, 0.08)),
}
"""Nominal QA values of DESI's Quick Look keys (a generic model is used for other keys)."""

_GENERIC = QaModel((0.0,), 0.3, (-1.0, 1.0), (-2.0, 2.0))


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw_qa(key: str, rng: random.Random, conditions: dict[str, float]) -> dict[str, Any]:
    """``METRICS`` and ``PARAMS`` of one simulated QA value.

    Elements scatter around their reference with a third of the NORMAL half-width. Now
    and then (one value in 30) an element is pushed outside its NORMAL range, and more
    rarely (one in 120) outside WARNING. Poor seeing and high airmass lower the
    signal-to-noise and raise the sky.
    """
    model = QA_MODELS.get(key, _GENERIC)
    degrade = max(0.0, conditions.get("seeing", 1.1) - 1.1) + max(
        0.0, conditions.get("airmass", 1.2) - 1.3
    )
    roll = rng.random()
    pushed = rng.randrange(len(model.reference))
    values = []
    for i, ref in enumerate(model.reference):
        value = rng.gauss(ref, min(model.sigma, model.normal[1] / 3))
        if key == "FIDSNR_TGT":
            value -= 1.2 * degrade
        elif key in ("PEAKCOUNT", "SKYCONT"):
            value += 30.0 * degrade
        if i == pushed and roll < 1 / 120:
            value = ref + rng.choice((-1, 1)) * model.warning[1] * rng.uniform(1.05, 1.6)
        elif i == pushed and roll < 1 / 30:
            value = ref + rng.choice((-1, 1)) * rng.uniform(model.normal[1], model.warning[1])
        values.append(round(value) if model.integer else round(value, 4))
    value_out: Any = values[0] if len(values) == 1 else values
    reference: Any = model.reference[0] if len(model.reference) == 1 else list(model.reference)
    status = "NORMAL"
    for v, r in zip(values, model.reference, strict=True):
        delta = v - r
        if not model.warning[0] <= delta <= model.warning[1]:
            status = "ALARM"
        elif not model.normal[0] <= delta <= model.normal[1] and status != "ALARM":
            status = "WARNING"
    return {
        "METRICS": {key: value_out, f"{key}_STATUS": status},
        "PARAMS": {
            f"{key}_NORMAL_RANGE": list(model.normal),
            f"{key}_WARN_RANGE": list(model.warning),
            f"{key}_REF": reference,
        },
    }


FIBRES = 500
"""Fibres of a DESI spectrograph: what each camera's ``GOOD_FIBERS`` lists."""


def good_fibres(good: Any, rng: random.Random) -> list[int]:
    """``GOOD_FIBERS`` as countbins writes it: 1 per good fibre, 0 per bad, *good* of them."""
    count = min(FIBRES, max(0, int(good)))
    bad = set(rng.sample(range(FIBRES), FIBRES - count))
    return [0 if i in bad else 1 for i in range(FIBRES)]


# The per-camera pipeline -------------------------------------------------------------

_SUBSTEPS = {
    "Starting to run step Initialize": ["Preproc"],
    "Starting to run step Flexure": ["BoxcarExtract"],
    "Starting to run step ApplyFiberFlat_QP": ["SkySub_QP"],
    "Starting to run step ResolutionFit": [],
    "Starting to run step ComputeFiberflat_QP": [],
}


def _log(level: str, where: str, message: str) -> None:
    print(f"{level}:{where}: {message}", flush=True)


def _load_steps(flavor: str, mapping: str | None) -> list[dict[str, Any]]:
    if mapping:
        document = json.loads(Path(mapping).read_text(encoding="utf-8"))
    else:
        candidate = default_mapping_dir() / f"ql_mapping_{flavor}.json"
        if candidate.is_file():
            document = json.loads(candidate.read_text(encoding="utf-8"))
        else:
            document = BUILTIN_MAPPINGS.get(flavor, BUILTIN_MAPPINGS["science"])
    steps: list[dict[str, Any]] = document["step_list"]
    return steps


def _fails(seed: int, exposure: str, camera: str, rate: float) -> tuple[bool, int]:
    rng = _rng(seed, "failure", exposure, camera)
    return rng.random() < rate, rng.randrange(3)


def run_unit(options: argparse.Namespace) -> int:
    """The simulated pipeline of one camera; the process's exit status."""
    camera: str = options.camera
    exposure: str = options.exposure
    flavor: str = (options.flavor or "science").lower()
    output = Path(options.output)
    output.mkdir(parents=True, exist_ok=True)
    steps = _load_steps(flavor, options.mapping)
    conditions = {"seeing": options.seeing, "airmass": options.airmass}
    fails, failing_step = _fails(options.seed, exposure, camera, options.failure_rate)
    timing = _rng(options.seed, "timing", exposure, camera)
    where = "ql_pipeline.py"
    _log(
        "INFO",
        where,
        f"QuickLook pipeline for camera {camera}, exposure {exposure}, flavor {flavor}",
    )
    _log("INFO", "qlconfig.py", f"Reading raw data from {options.raw or '(simulated)'}")
    printed: set[str] = set()
    for index, step in enumerate(steps):
        if step["start"] not in printed:
            _log("INFO", where, step["start"])
            printed.add(step["start"])
        for sub in _SUBSTEPS.get(step["start"], []):
            _log("INFO", where, f"Running {sub} for camera {camera}")
        duration = max(0.0, options.step_seconds * timing.uniform(0.6, 1.4))
        time.sleep(duration / 2)
        if fails and index == min(failing_step, len(steps) - 1):
            _log("ERROR", where, f"Failed to process {step['name']} for camera {camera}")
            print("Traceback (most recent call last):", file=sys.stderr, flush=True)
            print(
                f'  File "ql_pipeline.py", line 211, in run_{step["name"].lower()}',
                file=sys.stderr,
                flush=True,
            )
            print(
                f"ValueError: no good fibers found on camera {camera} (exposure {exposure})",
                file=sys.stderr,
                flush=True,
            )
            return 1
        for qa in step.get("qa_list", []):
            key = qa["status_key"].removesuffix("_STATUS")
            qa_rng = _rng(options.seed, "qa", exposure, camera, key)
            document = {
                "EXPID": exposure,
                "CAMERA": camera,
                "FLAVOR": flavor,
                "NIGHT": options.night,
                "PROGRAM": options.program,
                "PANAME": step["name"],
                "QATIME": datetime.now(UTC).isoformat(timespec="seconds"),
                **draw_qa(key, qa_rng, conditions),
            }
            if key == "NGOODFIB":
                document["METRICS"]["GOOD_FIBERS"] = good_fibres(
                    document["METRICS"]["NGOODFIB"], qa_rng
                )
            name = qa.get("name") or key.lower()
            target = output / f"ql-{name}-{camera}-{exposure}.json"
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_text(json.dumps(document) + "\n", encoding="utf-8")
            os.replace(temporary, target)
            status = document["METRICS"][f"{key}_STATUS"]
            level = "WARNING" if status != "NORMAL" else "INFO"
            _log(level, "qa.py", f"{qa['display_name']} of {camera}: {status}")
        time.sleep(duration / 2)
        following = steps[index + 1]["start"] if index + 1 < len(steps) else None
        if step["end"] and step["end"] != following and step["end"] not in printed:
            _log("INFO", where, step["end"])
            printed.add(step["end"])
    return 0


# Exposures ---------------------------------------------------------------------------

_PROGRAMS = (("dark", 0.55), ("bright", 0.3), ("grey", 0.1), ("backup", 0.05))
_SKY = {"dark": 21.1, "grey": 20.3, "bright": 19.4, "backup": 18.9}


class ExposureGenerator:
    """Writes simulated exposures, one header-only FITS file each.

    Parameters
    ----------
    folder
        Where the exposures go (``<night>/<expid>/desi-<expid>.fits``).
    seed
        Determines every value.
    first_expid
        The first exposure id.
    start
        When the first exposure was taken, each next one its exposure time and two
        minutes of overhead later; None: each exposure is taken when it is written.
    """

    def __init__(
        self,
        folder: Path,
        *,
        seed: int = 42,
        first_expid: int = 1,
        start: datetime | None = None,
    ) -> None:
        self.folder = folder
        self.seed = seed
        self.expid = first_expid
        self.realtime = start is None
        self.clock = start or datetime.now(UTC)
        self._index = 0

    def _flavor(self, rng: random.Random) -> str:
        # Calibrations open the night; then mostly science, a calibration now and then.
        if self._index == 0:
            return "arc"
        if self._index == 1:
            return "flat"
        roll = rng.random()
        return "arc" if roll < 0.08 else "flat" if roll < 0.16 else "science"

    def header(self) -> dict[str, Any]:
        """The header keywords of the next exposure (does not advance)."""
        if self.realtime:
            self.clock = datetime.now(UTC)
        rng = _rng(self.seed, "exposure", self.expid)
        flavor = self._flavor(rng)
        program = "calib"
        exptime = 5.0 if flavor == "arc" else 120.0
        if flavor == "science":
            roll, total = rng.random(), 0.0
            for name, weight in _PROGRAMS:
                total += weight
                if roll <= total:
                    program = name
                    break
            exptime = round(
                rng.uniform(300, 600) if program == "bright" else rng.uniform(900, 1200)
            )
        zenith = math.radians(rng.uniform(5, 58))
        airmass = 1 / math.cos(zenith)
        seeing = math.exp(rng.gauss(math.log(1.1), 0.22))
        sky = _SKY.get(program, 20.5) - 0.3 * (airmass - 1) + rng.gauss(0, 0.12)
        night = (self.clock - timedelta(hours=12)).strftime("%Y%m%d")
        header: dict[str, Any] = {
            "EXPID": self.expid,
            "NIGHT": night,
            "FLAVOR": flavor,
            "PROGRAM": program,
            "AIRMASS": round(airmass, 3),
            "SEEING": round(seeing, 2),
            "SKYBRT": round(sky, 2),
            "EXPTIME": float(exptime),
            "TELRA": round(rng.uniform(0, 360), 4),
            "TELDEC": round(rng.uniform(-20, 75), 4),
            "DATE-OBS": self.clock.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if flavor == "science":
            # A science exposure observes a tile (DESI's TILEID); calibrations none.
            header["TILEID"] = rng.randrange(1000, 42000)
        return header

    def write_next(self) -> Path:
        """Write the next exposure's file (atomically) and advance."""
        from astropy.io import fits

        header = self.header()
        expid = f"{self.expid:08d}"
        target = self.folder / str(header["NIGHT"]) / expid / f"desi-{expid}.fits"
        target.parent.mkdir(parents=True, exist_ok=True)
        hdu = fits.PrimaryHDU()
        for key, value in header.items():
            hdu.header[key] = value
        temporary = target.with_name(f".{target.name}.tmp")
        hdu.writeto(temporary, overwrite=True)
        os.replace(temporary, target)
        self.clock += timedelta(seconds=header["EXPTIME"] + 120)
        self.expid += 1
        self._index += 1
        return target


def main(argv: Sequence[str] | None = None) -> int:
    """``python _ql_pipeline.py unit ...`` (one camera) or ``exposures ...`` (the stream)."""
    parser = argparse.ArgumentParser(prog="quicklook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    unit = sub.add_parser("unit", help="Run the simulated pipeline of one camera.")
    unit.add_argument("--camera", required=True)
    unit.add_argument("--exposure", required=True)
    unit.add_argument("--flavor", default="science")
    unit.add_argument("--night", default="")
    unit.add_argument("--program", default="")
    unit.add_argument("--raw", default="")
    unit.add_argument("--output", default=".")
    unit.add_argument("--mapping", default=None, help="A ql_mapping_<flavor>.json file.")
    unit.add_argument("--step-seconds", type=float, default=2.0)
    unit.add_argument("--seed", type=int, default=42)
    unit.add_argument("--failure-rate", type=float, default=0.03)
    unit.add_argument("--seeing", type=float, default=1.1)
    unit.add_argument("--airmass", type=float, default=1.2)
    stream = sub.add_parser("exposures", help="Write simulated exposures at an interval.")
    stream.add_argument("folder", type=Path)
    stream.add_argument("--count", type=int, default=10)
    stream.add_argument("--interval", type=float, default=30.0)
    stream.add_argument("--seed", type=int, default=42)
    stream.add_argument("--first-expid", type=int, default=1)
    options = parser.parse_args(argv)
    if options.command == "unit":
        return run_unit(options)
    generator = ExposureGenerator(
        options.folder, seed=options.seed, first_expid=options.first_expid
    )
    for i in range(options.count):
        if i:
            time.sleep(options.interval)
        print(generator.write_next(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
