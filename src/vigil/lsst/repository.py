"""A Vigil data repository stored in, and read back from, a Gen3 Butler repository.

`store_repository` puts each file of a computed repository into one run collection as a
Butler dataset, unchanged (the Parquet bytes, their sorted row groups and their metadata
are kept), with dimensions from the file's granularity:

=========================  ===================  =================
dataset type               dimensions           storage class
=========================  ===================  =================
``vigil_repo``             (none)               StructuredDataDict
``vigil_objects``          skymap, tract        DataFrame
``vigil_sources``          instrument, visit    DataFrame
``vigil_metric_<metric>``  skymap, tract        DataFrame
                           or instrument, visit
=========================  ===================  =================

`butler_view` reads them back from a list of collections (the first collection that has a
dataset wins, as everywhere in the Butler) as a folder of links to the datastore's files,
so the explorer and the query engine read the Butler's files themselves, at the speed of
a plain folder.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.compute.granularity import PARTITION_COLUMN, TABLES, Table
from vigil.compute.repository import CONFIG_FILE, METRICS_DIR, RepoConfig, RepoLayout
from vigil.lsst._butler import check_collections, import_butler, open_butler, query_refs
from vigil.lsst.errors import ButlerError

if TYPE_CHECKING:
    from lsst.daf.butler import Butler, DatasetRef, DatasetType

__all__ = [
    "CONFIG_DATASET",
    "METRIC_PREFIX",
    "TABLE_DATASETS",
    "StoreReport",
    "butler_view",
    "check_target",
    "store_repository",
]

CONFIG_DATASET = "vigil_repo"
"""The dataset type of a repository's ``vigil-repo.yaml``."""
METRIC_PREFIX = "vigil_metric_"
"""Dataset types ``vigil_metric_<metric>`` hold a metric's value tables."""
TABLE_DATASETS: dict[Table, str] = {"objects": "vigil_objects", "sources": "vigil_sources"}
"""The dataset type of each catalogue table."""
_DIMENSIONS: dict[Table, tuple[str, str]] = {
    "objects": ("skymap", "tract"),
    "sources": ("instrument", "visit"),
}
_PARQUET_FORMATTER = "lsst.daf.butler.formatters.parquet.ParquetFormatter"
_YAML_FORMATTER = "lsst.daf.butler.formatters.yaml.YamlFormatter"
_DATASET_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")

Progress = Callable[[str, int, int], None]


@dataclass
class StoreReport:
    """What `store_repository` wrote."""

    run: str
    datasets: int = 0
    dataset_types: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    """Dimension records the registry lacked and that were added (``visit 1228``...)."""
    seconds: float = 0.0


@dataclass(frozen=True)
class _Item:
    """One file of the repository and where it goes in the Butler."""

    path: Path
    dataset_type: str
    table: Table | None
    key: int | None


def _items(layout: RepoLayout, config: RepoConfig) -> list[_Item]:
    items = [_Item(layout.config_path, CONFIG_DATASET, None, None)]
    for table in TABLES:
        for key, path in layout.table_files(table).items():
            items.append(_Item(path, TABLE_DATASETS[table], table, key))
    for name in layout.stored_metrics():
        if _DATASET_TYPE_NAME.fullmatch(name) is None:
            raise ButlerError(
                f"metric {name!r} cannot name a Butler dataset type (letters, digits and _ only)"
            )
        entry = config.metrics.get(name)
        tables: Sequence[Table] = (
            (entry.table,) if entry is not None and entry.table is not None else TABLES
        )
        for table in tables:
            for key, path in layout.metric_files(name, table).items():
                items.append(_Item(path, f"{METRIC_PREFIX}{name}", table, key))
    return items


def _first_token(text: str | None, what: str, option: str) -> str:
    token = (text or "").split(" ")[0].strip()
    if not token or _NAME_TOKEN.fullmatch(token) is None:
        raise ButlerError(
            f"the repository names no usable {what} (vigil-repo.yaml has {text!r}): give {option}"
        )
    return token


def _name(value: str | None, option: str) -> str | None:
    if value is not None and _NAME_TOKEN.fullmatch(value) is None:
        raise ButlerError(
            f"{option} {value!r} is not a Butler name: letters, digits, '_', '.' and '-' only"
        )
    return value


def check_target(repo: str | Path, run: str) -> None:
    """Raise `ButlerError` unless *repo* opens for writing and *run* holds no Vigil
    datasets: what `store_repository` would refuse, found before any work is done."""
    butler = open_butler(repo, writeable=True)
    names = sorted(t.name for t in butler.registry.queryDatasetTypes("vigil_*"))
    _refuse_existing(butler, run, names)


def _visit_band(path: Path) -> str | None:
    import pyarrow.parquet as pq

    if "band" not in pq.read_schema(path).names:
        return None
    column = pq.read_table(path, columns=["band"]).column("band")
    return str(column[0].as_py()) if len(column) else None


class _Records:
    """The dimension records the datasets need, and those the registry lacks.

    A repository made by the LSST pipelines has its instrument, visits, skymap and tracts
    already, and they are used as they are. `missing` lists the others; `add` puts them
    in with the least the registry needs (a visit's physical filter is its band and its
    day_obs 0).
    """

    def __init__(self, butler: Butler, skymap: str, instrument: str) -> None:
        self.butler = butler
        self.skymap = skymap
        self.instrument = instrument
        self.missing: dict[str, tuple[str, dict[str, Any]]] = {}
        """What to add, by label (``visit 1228``): the element and its record."""

    def _exists(self, element: str, data_id: dict[str, Any]) -> bool:
        daf_butler = import_butler()
        try:
            found = self.butler.query_dimension_records(element, data_id=data_id, explain=False)
        except daf_butler.DataIdValueError:
            return False  # a value the registry does not know yet
        return bool(found)

    def _need(self, element: str, key: dict[str, Any], record: dict[str, Any], label: str) -> None:
        if label not in self.missing and not self._exists(element, key):
            self.missing[label] = (element, record)

    def data_id(self, item: _Item) -> dict[str, Any]:
        """The dataId of *item*, noting the records it needs that the registry lacks."""
        if item.table is None or item.key is None:
            return {}
        if PARTITION_COLUMN[item.table] == "tract":
            self._tract(item.key)
            return {"skymap": self.skymap, "tract": item.key}
        self._visit(item.key, item.path)
        return {"instrument": self.instrument, "visit": item.key}

    def _tract(self, tract: int) -> None:
        digest = hashlib.sha1(self.skymap.encode(), usedforsecurity=False).digest()
        record = {"name": self.skymap, "hash": digest, "tract_max": 2**31 - 1}
        record |= {"patch_nx_max": 1000, "patch_ny_max": 1000}
        self._need("skymap", {"skymap": self.skymap}, record, f"skymap {self.skymap}")
        key = {"skymap": self.skymap, "tract": tract}
        self._need("tract", key, {"skymap": self.skymap, "id": tract}, f"tract {tract}")

    def _visit(self, visit: int, path: Path) -> None:
        record: dict[str, Any] = {"name": self.instrument, "visit_max": 2**31 - 1}
        record |= {"exposure_max": 2**31 - 1, "detector_max": 2**16}
        record |= {"class_name": "", "visit_system": 0}
        self._need(
            "instrument", {"instrument": self.instrument}, record, f"instrument {self.instrument}"
        )
        label = f"visit {visit}"
        if label in self.missing or self._exists(
            "visit", {"instrument": self.instrument, "visit": visit}
        ):
            return
        band = _visit_band(path)
        if band is None:
            raise ButlerError(
                f"visit {visit} is not in the registry and {path.name} has no band column to"
                " define it: define the visits first (butler define-visits)"
            )
        key = {"instrument": self.instrument, "physical_filter": band}
        band_record = {"instrument": self.instrument, "name": band, "band": band}
        self._need("physical_filter", key, band_record, f"physical_filter {band}")
        day = {"instrument": self.instrument, "id": 0}
        self._need("day_obs", {"instrument": self.instrument, "day_obs": 0}, day, "day_obs 0")
        visit_record: dict[str, Any] = {"instrument": self.instrument, "id": visit}
        visit_record |= {"name": str(visit), "physical_filter": band, "day_obs": 0}
        self.missing[label] = ("visit", visit_record)

    def add(self) -> list[str]:
        """Put the missing records in, in the order they were found; their labels."""
        for element, record in self.missing.values():
            self.butler.registry.insertDimensionData(element, record, skip_existing=True)
        return list(self.missing)


def _dataset_type(butler: Butler, item: _Item) -> DatasetType:
    """The dataset type *item* goes in, checked against any definition the registry has."""
    daf_butler = import_butler()
    if item.table is None:
        dimensions: tuple[str, ...] = ()
        storage = "StructuredDataDict"
    else:
        dimensions = _DIMENSIONS[item.table]
        storage = "DataFrame"
    wanted: DatasetType = daf_butler.DatasetType(
        item.dataset_type, dimensions, storage, universe=butler.dimensions
    )
    try:
        existing = butler.registry.getDatasetType(item.dataset_type)
    except daf_butler.MissingDatasetTypeError:
        return wanted
    if existing != wanted:
        raise ButlerError(
            f"the repository already defines {item.dataset_type} with dimensions"
            f" {sorted(existing.dimensions.required)} and storage class"
            f" {existing.storageClass_name}; Vigil stores it with"
            f" {sorted(wanted.dimensions.required)} and {storage}"
        )
    return existing


def store_repository(
    folder: Path,
    repo: str | Path,
    run: str,
    *,
    skymap: str | None = None,
    instrument: str | None = None,
    register_dimensions: bool = False,
    progress: Progress | None = None,
) -> StoreReport:
    """Put the computed repository at *folder* into the run collection *run* of *repo*.

    Parameters
    ----------
    folder
        A Vigil data repository (``vigil compute`` has written its metric tables).
    repo
        The Butler repository (``butler create`` made it).
    run
        The run collection; created when new. A run that already holds one of these
        datasets is refused (a Butler dataset is written once): give a new run.
    skymap, instrument
        The skymap of the tracts and the instrument of the visits; default: the
        ``skymap`` and ``instrument`` of ``vigil-repo.yaml``.
    register_dimensions
        Add the dimension records the registry lacks (the skymap, tracts, instrument,
        visits of a new repository). Without it, a missing record is an error that names
        it, so that a misspelt skymap never enters a shared registry.
    progress
        Called as ``progress("butler", done, total)``.

    Raises
    ------
    ButlerError
        Not a Butler repository, a dataset type defined otherwise, a dataset already in
        *run*, dimension records the registry lacks (without *register_dimensions*), a
        visit the files cannot define. Nothing is written then: the datasets go in all
        together or not at all.
    """
    started = time.perf_counter()
    layout = RepoLayout(folder)
    layout.check()
    if not layout.config_path.is_file():
        raise ButlerError(f"{folder} has no {CONFIG_FILE}: run 'vigil compute {folder}' first")
    config = RepoConfig.load(layout.config_path)
    items = _items(layout, config)
    butler = open_butler(repo, writeable=True)
    daf_butler = import_butler()
    report = StoreReport(run=run)
    needs_skymap = any(i.table is not None and PARTITION_COLUMN[i.table] == "tract" for i in items)
    needs_instrument = any(
        i.table is not None and PARTITION_COLUMN[i.table] == "visit" for i in items
    )
    sky = _name(skymap, "--skymap") or (
        _first_token(config.skymap, "skymap", "--skymap") if needs_skymap else ""
    )
    cam = _name(instrument, "--instrument") or (
        _first_token(config.instrument, "instrument", "--instrument") if needs_instrument else ""
    )
    types: dict[str, DatasetType] = {}
    for item in items:
        if item.dataset_type not in types:
            types[item.dataset_type] = _dataset_type(butler, item)
    _refuse_existing(butler, run, sorted(types))
    records = _Records(butler, sky, cam)
    data_ids = [records.data_id(item) for item in items]
    if records.missing and not register_dimensions:
        listed = ", ".join(list(records.missing)[:8]) + (" ..." if len(records.missing) > 8 else "")
        raise ButlerError(
            f"the registry of {repo} has no {listed}: use the names the pipelines registered"
            " (--skymap, --instrument), or add them with --register-dimensions"
        )
    # Runs and dataset types are made outside the transaction (they create tables); the
    # records and the datasets go in together or not at all.
    butler.registry.registerRun(run)
    for dataset_type in types.values():
        butler.registry.registerDatasetType(dataset_type)
    with tempfile.TemporaryDirectory(prefix="vigil-butler-") as staging:
        datasets = []
        with butler.transaction():
            report.records = records.add()
            for index, (item, data_id) in enumerate(zip(items, data_ids, strict=True)):
                ref = daf_butler.DatasetRef(types[item.dataset_type], data_id, run=run)
                # The Parquet formatter knows files by their .parq name: a link gives it one.
                suffix = ".yaml" if item.table is None else ".parq"
                staged = Path(staging) / f"{index}{suffix}"
                staged.symlink_to(item.path.resolve())
                formatter = _YAML_FORMATTER if item.table is None else _PARQUET_FORMATTER
                datasets.append(
                    daf_butler.FileDataset(path=str(staged), refs=[ref], formatter=formatter)
                )
            if progress is not None:
                progress("butler", 0, len(datasets))
            butler.ingest(*datasets, transfer="copy")
            if progress is not None:
                progress("butler", len(datasets), len(datasets))
    report.datasets = len(datasets)
    report.dataset_types = sorted(types)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def butler_view(repo: str | Path, collections: Sequence[str], *, where: str = "") -> Iterator[Path]:
    """A data repository folder made of the Vigil datasets of *collections* in *repo*.

    The folder holds ``vigil-repo.yaml`` and links to the datastore's files, named as in
    any repository (``metrics/<metric>/tract=9813.parquet``...); it is removed when the
    block ends. For each dataset type and dataId the first collection that has one wins.

    Raises
    ------
    ButlerError
        Not a Butler repository, an unknown collection, no Vigil datasets in the
        collections, or a datastore whose files are not local.
    """
    butler = open_butler(repo)
    names = check_collections(butler, collections)
    config_refs = (
        query_refs(butler, CONFIG_DATASET, names) if _has_type(butler, CONFIG_DATASET) else []
    )
    if not config_refs:
        raise ButlerError(
            f"no Vigil repository in {', '.join(names)}: write one with"
            " 'vigil compute CATALOG --butler REPO --run RUN'"
        )
    root = Path(tempfile.mkdtemp(prefix="vigil-butler-view-"))
    try:
        _link(butler, config_refs[0], root / CONFIG_FILE)
        for dataset_type in sorted(butler.registry.queryDatasetTypes("vigil_*")):
            name = dataset_type.name
            if name == CONFIG_DATASET:
                continue
            if name.startswith(METRIC_PREFIX):
                folder = root / METRICS_DIR / name[len(METRIC_PREFIX) :]
            elif name in TABLE_DATASETS.values():
                folder = root / next(t for t, n in TABLE_DATASETS.items() if n == name)
            else:
                continue
            for ref in query_refs(butler, name, names, where=where):
                column, key = _partition(ref)
                _link(butler, ref, folder / f"{column}={key}.parquet")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _refuse_existing(butler: Butler, run: str, dataset_types: list[str]) -> None:
    """Raise when *run* already holds a dataset of one of *dataset_types*."""
    daf_butler = import_butler()
    try:
        butler.collections.get_info(run)
    except daf_butler.MissingCollectionError:
        return
    for name in dataset_types:
        if not _has_type(butler, name):
            continue
        held = query_refs(butler, name, [run])
        if held:
            raise ButlerError(
                f"run {run!r} already holds {name} {dict(held[0].dataId.required)}: a Butler"
                " dataset is written once, so give a new run (--run)"
            )


def _has_type(butler: Butler, name: str) -> bool:
    return any(t.name == name for t in butler.registry.queryDatasetTypes(name))


def _partition(ref: DatasetRef) -> tuple[str, int]:
    required = dict(ref.dataId.required)
    for column in ("tract", "visit"):
        if column in required:
            return column, int(required[column])
    raise ButlerError(f"{ref.datasetType.name} has neither tract nor visit in its dataId")


def _link(butler: Butler, ref: DatasetRef, target: Path) -> None:
    uri = butler.getURI(ref)
    if uri.scheme not in ("", "file"):
        raise ButlerError(
            f"{ref.datasetType.name} is stored at {uri}: the explorer reads local files only;"
            " copy the collection to a local repository (butler transfer-datasets)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(uri.ospath)
