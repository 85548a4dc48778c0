"""An HSC-like data repository with planted problems: the explorer's demo and test data.

`generate_catalog` writes coadd object tables (one file per tract) and visit source
tables (one file per visit, detectors 0-103) in the repository format of
`vigil.compute.repository`, with realistic columns and ranges:

- positions: tracts ``9813, 9814, ...`` of about 1.7 deg laid out from RA 150, Dec 2
  (COSMOS-like), 9 x 9 integer patches (``patch = 9 y + x``), HSC-style ids;
- photometry in nJy (AB zero point 31.4): star and galaxy number counts, a stellar locus,
  PSF and CModel fluxes with errors from per-band depths, extendedness with faint
  misclassification, pixel flags;
- shapes: second moments of sources and of the PSF model (pixels squared), a PSF varying
  across the field and from visit to visit.

Three problems are planted and returned as `PlantedProblem` (also written to
``vigil-repo.yaml`` under ``truth``): a patch whose coadd PSF model is too small, a visit
whose PSF model is too small, and one CCD of another visit whose PSF fluxes are low.
Everything is vectorised NumPy and PyArrow; a given seed gives the same files.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.compute.granularity import TABLES
from vigil.compute.quantities import mag_to_flux
from vigil.compute.repository import CONFIG_FILE, Provenance, RepoConfig, RepoLayout, atomic_path

__all__ = [
    "BAND_DEPTHS",
    "DETECTORS",
    "FIRST_TRACT",
    "DemoCatalog",
    "PlantedProblem",
    "generate_catalog",
]

FIRST_TRACT = 9813
FIRST_VISIT = 1228
PATCHES_PER_SIDE = 9
DETECTOR_COLUMNS, DETECTOR_ROWS = 13, 8
DETECTORS = DETECTOR_COLUMNS * DETECTOR_ROWS  # 104, as HSC's science CCDs
TRACT_SIZE = 1.7  # degrees
VISIT_SIZE = 1.5
BAND_DEPTHS = {"u": 26.0, "g": 26.8, "r": 26.4, "i": 26.2, "z": 25.4, "y": 24.6}
"""5-sigma point-source depth of the coadd per band (AB mag); a visit is 1.8 mag shallower."""
_VISIT_DEPTH_OFFSET = 1.8
_STAR_FRACTION = 0.25
_BAD_PATCH = 40  # the central patch
_BAD_DETECTOR = 42
_ROW_GROUP = 65_536

Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class PlantedProblem:
    """One problem the generator planted, and where an aggregate must find it.

    Attributes
    ----------
    kind
        ``bad_patch``, ``bad_visit`` or ``bad_ccd``.
    data_id
        Where it is (``{"tract": 9814, "patch": 40}``, ``{"visit": 1240}``,
        ``{"visit": 1242, "detector": 42}``).
    metric
        The concrete metric that shows it.
    by
        The grouping at which it stands out.
    shift
        The expected shift of that metric's median, in its unit.
    description
        One sentence for people.
    """

    kind: str
    data_id: dict[str, int]
    metric: str
    by: tuple[str, ...]
    shift: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        """The ``truth`` entry of ``vigil-repo.yaml``."""
        out = asdict(self)
        out["by"] = list(self.by)
        return out


@dataclass
class DemoCatalog:
    """What `generate_catalog` wrote."""

    root: Path
    bands: tuple[str, ...]
    tracts: list[int]
    visits: dict[int, tuple[str, int]]
    """Band and tract of each visit."""
    objects: int = 0
    sources: int = 0
    problems: list[PlantedProblem] = field(default_factory=list)

    def problem(self, kind: str) -> PlantedProblem:
        """The planted problem of *kind*."""
        return next(p for p in self.problems if p.kind == kind)


@dataclass(frozen=True, slots=True)
class _Tract:
    tract: int
    ra: float
    dec: float

    @property
    def half_ra(self) -> float:
        return float(TRACT_SIZE / 2 / np.cos(np.radians(self.dec)))

    def patch_xy(self, ra: Array, dec: Array) -> tuple[Array, Array]:
        x = np.floor((ra - (self.ra - self.half_ra)) / (2 * self.half_ra) * PATCHES_PER_SIDE)
        y = np.floor((dec - (self.dec - TRACT_SIZE / 2)) / TRACT_SIZE * PATCHES_PER_SIDE)
        last = PATCHES_PER_SIDE - 1
        return np.clip(x, 0, last).astype(np.int32), np.clip(y, 0, last).astype(np.int32)


def _tract(index: int) -> _Tract:
    return _Tract(
        FIRST_TRACT + index, 150.0 + TRACT_SIZE * (index % 10), 2.0 + TRACT_SIZE * (index // 10)
    )


def _power_law_mags(
    rng: np.random.Generator, n: int, low: float, high: float, slope: float
) -> Array:
    """Magnitudes with number counts ``N(<m) ~ 10^(slope m)`` between *low* and *high*."""
    a, b = 10 ** (slope * low), 10 ** (slope * high)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def _locus_ri(gr: Array) -> Array:
    """r - i of the stellar locus as a function of g - r."""
    return np.where(gr < 1.2, 0.38 * gr - 0.05, 0.406 + 2.0 * (gr - 1.2))


@dataclass
class _Truth:
    """True properties of one tract's objects."""

    ra: Array
    dec: Array
    star: Array
    mags: dict[str, Array]
    size: Array  # intrinsic size of galaxies (px^2), 0 for stars
    e1: Array
    e2: Array


def _objects_truth(rng: np.random.Generator, tract: _Tract, n: int, bands: Sequence[str]) -> _Truth:
    ra = tract.ra + (rng.random(n) - 0.5) * 2 * tract.half_ra
    dec = tract.dec + (rng.random(n) - 0.5) * TRACT_SIZE
    star = rng.random(n) < _STAR_FRACTION
    i_mag = np.where(
        star,
        _power_law_mags(rng, n, 16.0, 25.0, 0.15),
        _power_law_mags(rng, n, 17.0, 26.5, 0.3),
    )
    gr = np.where(star, rng.uniform(0.2, 1.5, n), rng.normal(0.8, 0.35, n))
    ri = np.where(star, _locus_ri(gr) + rng.normal(0, 0.02, n), rng.normal(0.45, 0.25, n))
    iz = np.where(star, 0.5 * ri + rng.normal(0, 0.02, n), rng.normal(0.3, 0.2, n))
    zy = np.where(star, 0.3 * ri + rng.normal(0, 0.02, n), rng.normal(0.15, 0.1, n))
    all_mags = {"i": i_mag, "r": i_mag + ri, "g": i_mag + ri + gr, "z": i_mag - iz}
    all_mags["y"] = all_mags["z"] - zy
    all_mags["u"] = all_mags["g"] + np.where(star, 1.2, 1.0)
    size = np.where(star, 0.0, rng.lognormal(np.log(3.0), 0.8, n))
    e = np.where(star, 0.0, rng.uniform(0, 0.4, n))
    angle = rng.uniform(0, np.pi, n)
    return _Truth(
        ra,
        dec,
        star,
        {b: all_mags[b] for b in bands},
        size,
        e * np.cos(2 * angle),
        e * np.sin(2 * angle),
    )


def _psf_size(ra: Array, dec: Array, base: float) -> Array:
    """The PSF's second moment (px^2): *base* with a smooth pattern across the sky."""
    return base * (1 + 0.04 * np.sin(ra * 7.0) * np.cos(dec * 5.0))


def _measure(
    rng: np.random.Generator,
    truth: _Truth,
    band: str,
    depth: float,
    psf_base: float,
    *,
    psf_model_scale: Array | float = 1.0,
    psf_flux_scale: Array | float = 1.0,
    classification_noise: float = 0.3,
) -> dict[str, Array]:
    """Measured columns of one band (unprefixed names, as in a visit table)."""
    n = len(truth.ra)
    flux = mag_to_flux(truth.mags[band])
    sigma = mag_to_flux(np.full(n, depth)) / 5.0
    psf_true = _psf_size(truth.ra, truth.dec, psf_base)
    psf_fraction = psf_true / (psf_true + truth.size)
    psf_err = np.sqrt(sigma**2 + (0.002 * flux) ** 2)
    noise = rng.normal(0, 1, n)
    psf_flux = (flux * psf_fraction + noise * psf_err) * psf_flux_scale
    model_err = psf_err * np.sqrt(1 + truth.size / psf_true)
    cmodel_flux = flux + model_err * (0.95 * noise + 0.31 * rng.normal(0, 1, n))
    snr = np.abs(psf_flux) / psf_err
    # Classification degrades near the detection limit.
    wrong = rng.random(n) < 0.3 / (
        1 + np.exp((depth - 1.0 - truth.mags[band]) / classification_noise)
    )
    extendedness = np.where(truth.star ^ wrong, 0.0, 1.0)
    extendedness[rng.random(n) < 0.01] = np.nan
    shape_noise = 1.0 / np.maximum(snr, 1.0)
    total = psf_true + truth.size
    ixx = total * (1 + truth.e1) * (1 + rng.normal(0, 1, n) * shape_noise)
    iyy = total * (1 - truth.e1) * (1 + rng.normal(0, 1, n) * shape_noise)
    ixy = total * truth.e2 + rng.normal(0, 1, n) * shape_noise * psf_true * 0.5
    psf_e1 = 0.02 * np.sin(truth.ra * 11.0)
    psf_e2 = 0.02 * np.cos(truth.dec * 13.0)
    ixx += psf_true * psf_e1
    iyy -= psf_true * psf_e1
    ixy += psf_true * psf_e2
    model = psf_true * psf_model_scale
    saturated = truth.mags[band] < 17.0 + (depth - BAND_DEPTHS.get(band, depth))
    edge = rng.random(n) < 0.01
    f32 = np.float32
    return {
        "psfFlux": psf_flux.astype(f32),
        "psfFluxErr": psf_err.astype(f32),
        "psfFlux_flag": saturated | (rng.random(n) < 0.005),
        "cModelFlux": cmodel_flux.astype(f32),
        "cModelFluxErr": model_err.astype(f32),
        "cModel_flag": saturated | (rng.random(n) < 0.02),
        "extendedness": extendedness.astype(f32),
        "ixx": ixx.astype(f32),
        "iyy": iyy.astype(f32),
        "ixy": ixy.astype(f32),
        "ixxPSF": (model * (1 + psf_e1)).astype(f32),
        "iyyPSF": (model * (1 - psf_e1)).astype(f32),
        "ixyPSF": (model * psf_e2).astype(f32),
        "pixelFlags_saturated": saturated,
        "pixelFlags_edge": edge,
    }


def _ids(tract: int, x: Array, y: Array) -> Array:
    """HSC-style object ids: tract, patch x and y packed above a sequence number."""
    sequence = np.arange(len(x), dtype=np.int64)
    return (
        (np.int64(tract) << 42) + (x.astype(np.int64) << 37) + (y.astype(np.int64) << 32) + sequence
    )


def _psf_base(band: str) -> float:
    return {"u": 3.6, "g": 3.2, "r": 2.7, "i": 2.4, "z": 2.5, "y": 2.7}.get(band, 2.6)


def _objects_table(
    rng: np.random.Generator, tract: _Tract, truth: _Truth, bands: Sequence[str], bad_patch: bool
) -> pa.Table:
    x, y = tract.patch_xy(truth.ra, truth.dec)
    patch = (y * PATCHES_PER_SIDE + x).astype(np.int32)
    columns: dict[str, Array] = {
        "objectId": _ids(tract.tract, x, y),
        "tract": np.full(len(x), tract.tract, dtype=np.int32),
        "patch": patch,
        "coord_ra": truth.ra,
        "coord_dec": truth.dec,
        "detect_isPrimary": rng.random(len(x)) < 0.97,
    }
    in_bad = (patch == _BAD_PATCH) if bad_patch else np.zeros(len(x), dtype=bool)
    for band in bands:
        measured = _measure(
            rng,
            truth,
            band,
            BAND_DEPTHS.get(band, 25.0),
            _psf_base(band),
            psf_model_scale=np.where(in_bad, 0.92, 1.0),
            psf_flux_scale=np.where(in_bad & truth.star, 0.97, 1.0),
        )
        columns.update({f"{band}_{name}": values for name, values in measured.items()})
    return pa.table(columns)


def _sources_table(
    rng: np.random.Generator,
    tract: _Tract,
    truth: _Truth,
    object_ids: Array,
    visit: int,
    band: str,
    *,
    bad_psf: bool,
    bad_detector: int | None,
) -> pa.Table:
    centre_ra = tract.ra + rng.uniform(-0.15, 0.15)
    centre_dec = tract.dec + rng.uniform(-0.15, 0.15)
    half_dec = VISIT_SIZE / 2
    half_ra = half_dec / np.cos(np.radians(centre_dec))
    depth = BAND_DEPTHS.get(band, 25.0) - _VISIT_DEPTH_OFFSET
    inside = (np.abs(truth.ra - centre_ra) < half_ra) & (np.abs(truth.dec - centre_dec) < half_dec)
    inside &= truth.mags[band] < depth + 0.5
    chosen = np.flatnonzero(inside)
    sub = _Truth(
        truth.ra[chosen],
        truth.dec[chosen],
        truth.star[chosen],
        {band: truth.mags[band][chosen]},
        truth.size[chosen],
        truth.e1[chosen],
        truth.e2[chosen],
    )
    column = np.clip(
        ((sub.ra - centre_ra + half_ra) / (2 * half_ra) * DETECTOR_COLUMNS).astype(np.int32),
        0,
        DETECTOR_COLUMNS - 1,
    )
    row = np.clip(
        ((sub.dec - centre_dec + half_dec) / (2 * half_dec) * DETECTOR_ROWS).astype(np.int32),
        0,
        DETECTOR_ROWS - 1,
    )
    detector = (row * DETECTOR_COLUMNS + column).astype(np.int32)
    seeing = rng.uniform(0.85, 1.35)
    on_bad = (detector == bad_detector) if bad_detector is not None else np.zeros(len(chosen), bool)
    measured = _measure(
        rng,
        sub,
        band,
        depth,
        _psf_base(band) * seeing,
        psf_model_scale=0.88 if bad_psf else 1.0,
        psf_flux_scale=np.where(on_bad, 0.94, 1.0),
        classification_noise=0.5,
    )
    n = len(chosen)
    x, y = tract.patch_xy(sub.ra, sub.dec)
    detected = np.abs(measured["psfFlux"]) / measured["psfFluxErr"] > 5.0
    scatter = 0.05 / 3600.0
    columns: dict[str, Array] = {
        "sourceId": (np.int64(visit) << 32) + (detector.astype(np.int64) << 24) + np.arange(n),
        "visit": np.full(n, visit, dtype=np.int32),
        "detector": detector,
        "band": np.full(n, band, dtype=object),
        "tract": np.full(n, tract.tract, dtype=np.int32),
        "patch": (y * PATCHES_PER_SIDE + x).astype(np.int32),
        "objectId": object_ids[chosen],
        "coord_ra": sub.ra + rng.normal(0, scatter, n),
        "coord_dec": sub.dec + rng.normal(0, scatter, n),
        **measured,
    }
    table = pa.table(columns)
    return table.filter(pa.array(detected))


def _write(table: pa.Table, target: Path) -> None:
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary, row_group_size=_ROW_GROUP, compression="zstd")


def _visit_plan(tracts: int, visits: int, bands: Sequence[str]) -> list[tuple[int, str, int]]:
    """``(visit, band, tract index)`` of each visit: every tract in one band, then the next."""
    return [
        (FIRST_VISIT + 2 * j, bands[(j // tracts) % len(bands)], j % tracts) for j in range(visits)
    ]


def _plant_band(bands: Sequence[str]) -> str:
    return "i" if "i" in bands else bands[-1]


def generate_catalog(
    out: Path,
    *,
    tracts: int = 4,
    objects_per_tract: int = 20_000,
    visits: int | None = None,
    bands: Sequence[str] = ("g", "r", "i"),
    seed: int = 9813,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoCatalog:
    """Write an HSC-like repository with planted problems to *out*.

    Parameters
    ----------
    out
        The repository folder (created; existing table files are replaced).
    tracts
        Number of tracts (``9813``, ``9814``, ...).
    objects_per_tract
        Objects in each tract's coadd table.
    visits
        Number of visits (default: two per band and tract); each covers one tract in one
        band with 104 detectors. At least two, for the bad visit and the bad CCD.
    bands
        Bands of the coadd tables (from ``ugrizy``).
    seed
        The seed of everything random.
    progress
        Called as ``progress(step, done, total)`` after each file.

    Raises
    ------
    ValueError
        For counts out of range or unknown bands.
    """
    bands = tuple(bands)
    unknown = [b for b in bands if b not in BAND_DEPTHS]
    if unknown or not bands:
        raise ValueError(
            f"bands are among {', '.join(BAND_DEPTHS)}, not {', '.join(unknown) or 'none'}"
        )
    if len(set(bands)) != len(bands):
        raise ValueError("bands repeat")
    if tracts < 1 or tracts > 1000:
        raise ValueError("--tracts is between 1 and 1000")
    if objects_per_tract < 100:
        raise ValueError("--objects-per-tract is at least 100")
    visits = 2 * len(bands) * tracts if visits is None else visits
    if visits < 2:
        raise ValueError("--visits is at least 2 (one bad visit, one visit with a bad CCD)")
    layout = RepoLayout(out)
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        for old in layout.table_dir(table).glob("*.parquet"):
            old.unlink()

    plan = _visit_plan(tracts, visits, bands)
    plant = _plant_band(bands)
    candidates = [v for v in plan if v[1] == plant] or [v for v in plan if v[1] == plan[0][1]]
    bad_visit = candidates[0]
    bad_ccd = candidates[1] if len(candidates) > 1 else next(v for v in plan if v != bad_visit)
    bad_tract = min(1, tracts - 1)
    catalog = DemoCatalog(out, bands, [FIRST_TRACT + t for t in range(tracts)], {})
    total = tracts + visits
    done = 0
    for index in range(tracts):
        tract = _tract(index)
        rng = np.random.default_rng([seed, index])
        truth = _objects_truth(rng, tract, objects_per_tract, bands)
        objects = _objects_table(rng, tract, truth, bands, bad_patch=index == bad_tract)
        _write(objects, layout.table_file("objects", tract.tract))
        catalog.objects += objects.num_rows
        object_ids = objects.column("objectId").to_numpy()
        for visit, band, tract_index in plan:
            if tract_index != index:
                continue
            visit_rng = np.random.default_rng([seed, index, visit])
            sources = _sources_table(
                visit_rng,
                tract,
                truth,
                object_ids,
                visit,
                band,
                bad_psf=visit == bad_visit[0],
                bad_detector=_BAD_DETECTOR if visit == bad_ccd[0] else None,
            )
            _write(sources, layout.table_file("sources", visit))
            catalog.sources += sources.num_rows
            catalog.visits[visit] = (band, tract.tract)
            done += 1
            if progress:
                progress("Writing tracts and visits", done, total)
        done += 1
        if progress:
            progress("Writing tracts and visits", done, total)
    catalog.visits = dict(sorted(catalog.visits.items()))
    catalog.problems = [
        PlantedProblem(
            "bad_patch",
            {"tract": FIRST_TRACT + bad_tract, "patch": _BAD_PATCH},
            f"psf_size_residual_{plant}",
            ("tract", "patch"),
            4.3,
            "The coadd PSF model of this patch is 8% too small in every band: stars look"
            " 4% larger than the PSF and their PSF fluxes 3% low.",
        ),
        PlantedProblem(
            "bad_visit",
            {"visit": bad_visit[0]},
            f"visit_psf_size_residual_{bad_visit[1]}",
            ("visit",),
            6.6,
            "The PSF model of this visit is 12% too small on every detector.",
        ),
        PlantedProblem(
            "bad_ccd",
            {"visit": bad_ccd[0], "detector": _BAD_DETECTOR},
            f"visit_psf_cmodel_mag_diff_{bad_ccd[1]}",
            ("visit", "detector"),
            67.0,
            "PSF fluxes of this CCD are 6% low in this visit.",
        ),
    ]
    _write_config(catalog, seed, objects_per_tract)
    return catalog


def _write_config(catalog: DemoCatalog, seed: int, objects_per_tract: int) -> None:
    layout = RepoLayout(catalog.root)
    old = RepoConfig.load(layout.config_path) if layout.config_path.exists() else None
    try:
        version = importlib.metadata.version("vigil")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    config = RepoConfig(
        name="demo-hsc",
        instrument="HSC",
        skymap="hsc_rings_v1 (demo layout)",
        bands=list(catalog.bands),
        metrics=old.metrics if old is not None else {},
        provenance=Provenance(
            pipeline={"name": "vigil demo catalog", "version": version},
            configuration={
                "seed": seed,
                "tracts": len(catalog.tracts),
                "objects_per_tract": objects_per_tract,
                "visits": len(catalog.visits),
            },
            inputs=[],
        ),
        truth=[problem.to_dict() for problem in catalog.problems],
    )
    config.write(catalog.root / CONFIG_FILE)
