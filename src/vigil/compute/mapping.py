"""Column mappings: real catalogues with older column names into the repository format.

A `ColumnMapping` turns the columns of a catalogue (Parquet or FITS) into the columns of
an object table (``objectId``, ``tract``, ``patch``, ``coord_ra``/``coord_dec`` in
degrees, ``<band>_psfFlux`` in nJy, ...). Built in:

``hsc-legacy``
    Single-band HSC coadd measurement tables of the pipe_analysis / qa_explorer era
    (``base_PsfFlux_flux`` in counts at zero point 27, ``modelfit_CModel_flux``,
    ``base_SdssShape_*``, ``base_ClassificationExtendedness_value``, coordinates in
    radians, the id in the pandas index). The band is not in the file: give it.
``hsc-faro``
    Multi-band PSF magnitudes as in faro's test catalogues (``base_PsfFlux_mag_<band>``,
    ``coord_ra_r``/``coord_dec_r`` in radians). These are samples of point sources, so
    ``<band>_extendedness`` is written as 0.
``native``
    A table already in the repository's object format.

Both HSC mappings take ``tract`` and ``patch`` from the object id (HSC's packing: tract
in bits 42 and up, patch x in bits 37-41, y in bits 32-36; ``patch = 9 y + x``) unless
given. `detect_mapping` picks a mapping from the columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.compute.errors import MappingError
from vigil.compute.quantities import NJY_ZERO_POINT, mag_to_flux
from vigil.compute.repository import RepoConfig, RepoLayout, atomic_path, sort_bands

__all__ = [
    "MAPPINGS",
    "ColumnMapping",
    "ColumnRule",
    "ImportReport",
    "detect_mapping",
    "import_catalog",
    "read_catalog",
]

Transform = Literal["copy", "rad2deg", "counts_to_njy", "mag_to_njy", "constant"]
Array = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """One output column: from which input column, through which transform.

    ``{band}`` in *target* and *source* repeats the rule for every band.
    """

    target: str
    source: str | None = None
    transform: Transform = "copy"
    value: float = 0.0
    required: bool = False


@dataclass(frozen=True)
class ColumnMapping:
    """How to read one kind of catalogue into an object table.

    Parameters
    ----------
    name, description
        For people and ``vigil-repo.yaml``.
    rules
        The output columns.
    id_column
        The input column of the object id.
    band_pattern
        A regular expression with a ``band`` group finding the bands of a multi-band
        table from its columns; None for a single-band table (the band is given).
    zero_point
        The magnitude of 1 count, for ``counts_to_njy``.
    hsc_ids
        Whether tract and patch are unpacked from the id.
    detect
        Columns whose presence identifies this kind of catalogue.
    """

    name: str
    description: str
    rules: tuple[ColumnRule, ...]
    id_column: str = "id"
    band_pattern: str | None = None
    zero_point: float | None = None
    hsc_ids: bool = True
    detect: tuple[str, ...] = ()

    def bands(self, columns: Sequence[str]) -> list[str]:
        """The bands of a multi-band table with *columns*."""
        if self.band_pattern is None:
            return []
        pattern = re.compile(self.band_pattern)
        return sort_bands(m.group("band") for c in columns if (m := pattern.fullmatch(c)))

    def source_columns(self, bands: Sequence[str]) -> set[str]:
        """The input columns the rules read."""
        out = {self.id_column}
        for rule in self.rules:
            if rule.source is not None:
                out |= {rule.source.replace("{band}", b) for b in bands or [""]}
        return out


def _band_rules(pairs: Sequence[tuple[str, str, Transform]]) -> tuple[ColumnRule, ...]:
    return tuple(ColumnRule(f"{{band}}_{target}", source, how) for target, source, how in pairs)


HSC_LEGACY = ColumnMapping(
    name="hsc-legacy",
    description="single-band HSC coadd measurement table (pipe_analysis / qa_explorer era)",
    rules=(
        ColumnRule("coord_ra", "coord_ra", "rad2deg", required=True),
        ColumnRule("coord_dec", "coord_dec", "rad2deg", required=True),
        ColumnRule("detect_isPrimary", "detect_isPrimary"),
        *_band_rules(
            [
                ("psfFlux", "base_PsfFlux_flux", "counts_to_njy"),
                ("psfFluxErr", "base_PsfFlux_fluxSigma", "counts_to_njy"),
                ("psfFlux_flag", "base_PsfFlux_flag", "copy"),
                ("cModelFlux", "modelfit_CModel_flux", "counts_to_njy"),
                ("cModelFluxErr", "modelfit_CModel_fluxSigma", "counts_to_njy"),
                ("cModel_flag", "modelfit_CModel_flag", "copy"),
                ("extendedness", "base_ClassificationExtendedness_value", "copy"),
                ("ixx", "base_SdssShape_xx", "copy"),
                ("iyy", "base_SdssShape_yy", "copy"),
                ("ixy", "base_SdssShape_xy", "copy"),
                ("ixxPSF", "base_SdssShape_psf_xx", "copy"),
                ("iyyPSF", "base_SdssShape_psf_yy", "copy"),
                ("ixyPSF", "base_SdssShape_psf_xy", "copy"),
                ("pixelFlags_saturated", "base_PixelFlags_flag_saturated", "copy"),
                ("pixelFlags_edge", "base_PixelFlags_flag_edge", "copy"),
            ]
        ),
    ),
    zero_point=27.0,
    detect=("base_PsfFlux_flux", "coord_ra"),
)

HSC_FARO = ColumnMapping(
    name="hsc-faro",
    description="multi-band PSF magnitudes of point sources (faro test catalogues)",
    rules=(
        ColumnRule("coord_ra", "coord_ra_r", "rad2deg", required=True),
        ColumnRule("coord_dec", "coord_dec_r", "rad2deg", required=True),
        ColumnRule("{band}_psfFlux", "base_PsfFlux_mag_{band}", "mag_to_njy"),
        ColumnRule("{band}_extendedness", None, "constant", 0.0),
    ),
    band_pattern=r"base_PsfFlux_mag_(?P<band>[A-Za-z0-9]+)",
    detect=("coord_ra_r", "coord_dec_r"),
)

NATIVE = ColumnMapping(
    name="native",
    description="an object table already in the repository format",
    rules=(),
    id_column="objectId",
    band_pattern=r"(?P<band>[A-Za-z0-9]+)_psfFlux",
    hsc_ids=False,
    detect=("objectId", "tract", "patch", "coord_ra", "coord_dec"),
)

MAPPINGS: dict[str, ColumnMapping] = {m.name: m for m in (HSC_LEGACY, HSC_FARO, NATIVE)}
"""The built-in mappings by name."""


def detect_mapping(columns: Sequence[str], path: Path | str = "the catalogue") -> ColumnMapping:
    """The mapping whose identifying columns *columns* has.

    Raises
    ------
    MappingError
        When none fits.
    """
    present = set(columns)
    for mapping in (NATIVE, HSC_LEGACY, HSC_FARO):
        if set(mapping.detect) <= present:
            return mapping
    raise MappingError(
        f"{path}: no column mapping recognises its columns; give one with --mapping"
        f" ({', '.join(MAPPINGS)})"
    )


@dataclass
class _Catalog:
    path: Path
    columns: list[str]
    data: dict[str, Array] = field(default_factory=dict)


def _native(values: Array) -> Array:
    array = np.asarray(values)
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _pandas_index_names(schema: pa.Schema) -> dict[str, str]:
    """Names of pandas index columns (``id``) to their stored names (``__index_level_0__``)."""
    meta = schema.pandas_metadata or {}
    out = {}
    for column in meta.get("columns", []):
        stored = column.get("field_name")
        name = column.get("name")
        if stored and name and stored.startswith("__index_level_") and isinstance(name, str):
            out[name] = stored
    return out


def read_catalog(path: Path, wanted: set[str] | None = None) -> _Catalog:
    """Read a Parquet or FITS catalogue (only *wanted* columns when given).

    Raises
    ------
    MappingError
        When the file cannot be read.
    """
    if not path.is_file():
        raise MappingError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parq", ".parquet", ".pq")):
            schema = pq.read_schema(path)
            aliases = _pandas_index_names(schema)
            columns = [c for c in schema.names if not c.startswith("__index_level_")]
            columns += list(aliases)
            catalog = _Catalog(path, columns)
            if wanted is not None:
                stored = {aliases.get(c, c): c for c in wanted if c in columns}
                table = pq.read_table(path, columns=sorted(stored))
                for field_name in table.column_names:
                    catalog.data[stored[field_name]] = _column_numpy(table.column(field_name))
            return catalog
        if name.endswith((".fits", ".fits.gz", ".fit", ".fits.fz")):
            from astropy.table import Table

            table = Table.read(path)
            catalog = _Catalog(path, list(table.colnames))
            for column in table.colnames:
                if wanted is None or column in wanted:
                    catalog.data[column] = _native(np.asarray(table[column]))
            return catalog
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise MappingError(f"{path}: cannot be read as a catalogue ({exc})") from None
    raise MappingError(f"{path}: unknown catalogue format; give a .parq/.parquet or .fits file")


def _column_numpy(column: pa.ChunkedArray) -> Array:
    if pa.types.is_floating(column.type):
        return cast(Array, column.to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(column.type) and column.null_count:
        return np.array(column.to_pylist(), dtype=object)
    return cast(Array, column.to_numpy(zero_copy_only=False))


def _apply(rule: ColumnRule, values: Array | None, size: int, zero_point: float | None) -> Array:
    if rule.transform == "constant":
        return np.full(size, rule.value, dtype=np.float32)
    assert values is not None
    if rule.transform == "copy":
        return values
    floats = np.asarray(values, dtype=np.float64)
    if rule.transform == "rad2deg":
        return np.degrees(floats)
    if rule.transform == "mag_to_njy":
        return mag_to_flux(floats)
    if rule.transform == "counts_to_njy":
        if zero_point is None:
            raise MappingError(f"rule {rule.target}: counts_to_njy needs the mapping's zero point")
        return floats * 10 ** ((NJY_ZERO_POINT - zero_point) / 2.5)
    raise MappingError(f"rule {rule.target}: unknown transform {rule.transform!r}")


def hsc_tract_patch(ids: Array) -> tuple[Array, Array]:
    """Tract and patch (``9 y + x``) packed in HSC object ids."""
    ids = np.asarray(ids, dtype=np.int64)
    x = (ids >> 37) & 31
    y = (ids >> 32) & 31
    return (ids >> 42).astype(np.int32), (y * 9 + x).astype(np.int32)


@dataclass
class ImportReport:
    """What `import_catalog` wrote."""

    path: Path
    mapping: str
    bands: list[str]
    rows: int
    tracts: list[int]
    skipped_columns: list[str] = field(default_factory=list)


def import_catalog(
    path: Path,
    root: Path,
    *,
    mapping: str = "auto",
    band: str | None = None,
    tract: int | None = None,
) -> ImportReport:
    """Write the objects of catalogue *path* into the repository at *root*.

    Each tract of the catalogue replaces ``objects/tract=<t>.parquet``;
    ``vigil-repo.yaml`` records the input and the mapping.

    Parameters
    ----------
    path
        A Parquet or FITS catalogue.
    root
        The repository (created when missing).
    mapping
        A name of `MAPPINGS`, or ``auto`` to detect it.
    band
        The band of a single-band catalogue.
    tract
        The tract of every row (default: from the ids).

    Raises
    ------
    MappingError
        For an unknown mapping, a missing band or required column, or an unreadable file.
    """
    probe = read_catalog(path)
    if mapping == "auto":
        chosen = detect_mapping(probe.columns, path)
    elif mapping in MAPPINGS:
        chosen = MAPPINGS[mapping]
    else:
        raise MappingError(
            f"unknown column mapping {mapping!r}; use one of {', '.join(MAPPINGS)} or auto"
        )
    if chosen.band_pattern is None:
        if band is None:
            raise MappingError(
                f"{path}: a {chosen.name} table holds one band, and the file does not say"
                " which: give it with --band"
            )
        bands = [band]
    else:
        bands = chosen.bands(probe.columns)
        if not bands:
            raise MappingError(f"{path}: no band columns found for mapping {chosen.name}")
    if chosen.id_column not in probe.columns:
        raise MappingError(f"{path}: id column {chosen.id_column!r} is missing ({chosen.name})")
    catalog = read_catalog(
        path, chosen.source_columns(bands) | set(probe.columns if chosen is NATIVE else [])
    )
    ids = np.asarray(catalog.data[chosen.id_column], dtype=np.int64)
    size = len(ids)
    out: dict[str, Array] = {}
    skipped: list[str] = []
    if chosen is NATIVE:
        out = dict(catalog.data)
    else:
        out["objectId"] = ids
        for rule in chosen.rules:
            for b in bands if "{band}" in rule.target else [""]:
                target = rule.target.replace("{band}", b)
                source = rule.source.replace("{band}", b) if rule.source else None
                if source is not None and source not in catalog.data:
                    if rule.required:
                        raise MappingError(f"{path}: column {source!r} is missing ({chosen.name})")
                    skipped.append(target)
                    continue
                values = catalog.data[source] if source is not None else None
                out[target] = _apply(rule, values, size, chosen.zero_point)
    if tract is not None:
        out["tract"] = np.full(size, tract, dtype=np.int32)
        if "patch" not in out:
            out["patch"] = (
                hsc_tract_patch(ids)[1] if chosen.hsc_ids else np.zeros(size, dtype=np.int32)
            )
    elif chosen.hsc_ids:
        out["tract"], out["patch"] = hsc_tract_patch(ids)
    elif "tract" not in out:
        raise MappingError(f"{path}: no tract column; give the tract with --tract")
    table = pa.table(out)
    layout = RepoLayout(root)
    root.mkdir(parents=True, exist_ok=True)
    tracts = sorted(int(t) for t in np.unique(np.asarray(out["tract"])))
    tract_column = np.asarray(out["tract"])
    for value in tracts:
        part = table.filter(pa.array(tract_column == value))
        with atomic_path(layout.table_file("objects", value)) as temporary:
            pq.write_table(part, temporary, compression="zstd")
    config = RepoConfig.load(layout.config_path) if layout.config_path.exists() else RepoConfig()
    config.bands = sort_bands([*config.bands, *bands])
    config.provenance.mapping = chosen.name
    if str(path) not in config.provenance.inputs:
        config.provenance.inputs.append(str(path))
    config.write(layout.config_path)
    return ImportReport(path, chosen.name, bands, size, tracts, skipped)
