"""The data repository format: tidy Parquet files and ``vigil-repo.yaml``.

::

    REPO/
      vigil-repo.yaml                       what was computed, acceptable values, provenance
      objects/tract=9813.parquet            coadd objects of one tract
      sources/visit=1228.parquet            sources of one visit (a detector column)
      metrics/<metric>/tract=9813.parquet   per-source values of a coadd metric
      metrics/<metric>/visit=1228.parquet   per-source values of a visit metric

A metric file written by ``vigil compute`` holds its rows sorted by value, in row groups
of 8,192 rows, and says so in its Parquet metadata under `SORTED_BY_KEY`
(``tract,value``): each row group's minimum and maximum then index the values.

`RepoLayout` knows where everything is; `RepoConfig` reads, validates and writes
``vigil-repo.yaml`` (the schema is in docs/repository.md); every error names the file and
the field.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from vigil.compute.aggregators import aggregator_from_name
from vigil.compute.errors import RepositoryConfigError, RepositoryError
from vigil.compute.granularity import LEVELS, PARTITION_COLUMN, TABLES, Table
from vigil.compute.metric import AcceptableRange

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "SORTED_BY_KEY",
    "MetricEntry",
    "Provenance",
    "RepoConfig",
    "RepoLayout",
    "atomic_path",
    "parse_partition",
    "sort_bands",
]

CONFIG_FILE = "vigil-repo.yaml"
FORMAT_VERSION = 1
METRICS_DIR = "metrics"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it: seven times quicker on a large file."""
SORTED_BY_KEY = "vigil.sorted_by"
"""Parquet metadata key of a metric file: the columns its rows are sorted by, with commas."""

_PARTITION_FILE = re.compile(r"(?P<column>tract|visit)=(?P<key>-?\d+)\.parquet")


def parse_partition(path: Path) -> tuple[str, int] | None:
    """``("tract", 9813)`` for ``.../tract=9813.parquet``; None for other names."""
    match = _PARTITION_FILE.fullmatch(path.name)
    if match is None:
        return None
    return match.group("column"), int(match.group("key"))


_BAND_ORDER = "ugrizy"


def sort_bands(bands: Iterable[str]) -> list[str]:
    """*bands* without repeats, in wavelength order (``u g r i z y``), others after."""
    return sorted(
        set(bands),
        key=lambda b: (_BAND_ORDER.index(b) if len(b) == 1 and b in _BAND_ORDER else 99, b),
    )


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside *target*, renamed onto it when the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True)
class RepoLayout:
    """Where the files of a repository rooted at *root* are."""

    root: Path

    @property
    def config_path(self) -> Path:
        """``vigil-repo.yaml``."""
        return self.root / CONFIG_FILE

    def table_dir(self, table: Table) -> Path:
        """The folder of a table's files."""
        return self.root / table

    def table_file(self, table: Table, key: int) -> Path:
        """The file of one tract (objects) or visit (sources)."""
        return self.table_dir(table) / f"{PARTITION_COLUMN[table]}={key}.parquet"

    def table_files(self, table: Table) -> dict[int, Path]:
        """The files of *table*, by tract or visit, in key order."""
        return _partition_files(self.table_dir(table), PARTITION_COLUMN[table])

    def metric_dir(self, name: str) -> Path:
        """The folder of one metric's value files."""
        return self.root / METRICS_DIR / name

    def metric_file(self, name: str, table: Table, key: int) -> Path:
        """The value file of one metric for one tract or visit."""
        return self.metric_dir(name) / f"{PARTITION_COLUMN[table]}={key}.parquet"

    def metric_files(self, name: str, table: Table) -> dict[int, Path]:
        """The value files of one metric, by tract or visit."""
        return _partition_files(self.metric_dir(name), PARTITION_COLUMN[table])

    def stored_metrics(self) -> list[str]:
        """The names of the metrics that have a value folder."""
        folder = self.root / METRICS_DIR
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.parquet")))

    def check(self) -> None:
        """Raise `RepositoryError` unless *root* looks like a repository."""
        if not self.root.is_dir():
            raise RepositoryError(f"{self.root} is not a folder: give the path of a repository")
        if (
            not any(self.table_dir(t).is_dir() for t in TABLES)
            and not (self.root / METRICS_DIR).is_dir()
        ):
            raise RepositoryError(
                f"{self.root} has no objects/, sources/ or metrics/ folder: it is not a Vigil"
                " data repository (write one with 'vigil demo catalog' or load catalogues"
                " with 'vigil compute REPO --input FILE')"
            )


def _partition_files(folder: Path, column: str) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.glob(f"{column}=*.parquet"):
            parsed = parse_partition(path)
            if parsed is not None and parsed[0] == column:
                found[parsed[1]] = path
    return dict(sorted(found.items()))


# -- vigil-repo.yaml -----------------------------------------------------------------------


@dataclass
class MetricEntry:
    """What ``vigil-repo.yaml`` says of one metric (fields as in docs/repository.md)."""

    name: str
    definition: str | None = None
    band: str | None = None
    table: Table | None = None
    unit: str | None = None
    description: str | None = None
    compute: str | None = None
    selection: list[str] = field(default_factory=list)
    aggregate: str | None = None
    granularity: str | None = None
    acceptable: AcceptableRange | None = None
    computed: str | None = None
    rows: int | None = None
    files: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as written in the file (empty fields left out)."""
        out = _filled(self, _METRIC_KEYS)
        if self.acceptable is not None:
            out["acceptable"] = self.acceptable.to_dict()
        return {key: out[key] for key in _METRIC_KEYS if key in out}


@dataclass
class Provenance:
    """Where a repository's values come from."""

    pipeline: dict[str, str] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    mapping: str | None = None
    created: str | None = None
    software: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``provenance`` mapping of the file (empty fields left out)."""
        return _filled(self, _PROVENANCE_KEYS)


@dataclass
class RepoConfig:
    """The contents of ``vigil-repo.yaml``."""

    name: str | None = None
    instrument: str | None = None
    skymap: str | None = None
    bands: list[str] = field(default_factory=list)
    metrics: dict[str, MetricEntry] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    truth: list[dict[str, Any]] = field(default_factory=list)
    format: int = FORMAT_VERSION

    @classmethod
    def load(cls, path: Path) -> RepoConfig:
        """Read and validate *path*.

        Raises
        ------
        RepositoryConfigError
            Naming the file and the field at fault.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RepositoryConfigError(path, None, f"cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise RepositoryConfigError(path, None, "is not UTF-8 text") from None
        try:
            document = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise RepositoryConfigError(
                path, None, f"is not valid YAML{where}: {problem}"
            ) from None
        return cls.from_dict(document, path)

    @classmethod
    def from_dict(cls, document: Any, path: Path | str = CONFIG_FILE) -> RepoConfig:
        """Validate a parsed document (*path* names it in errors)."""
        return _ConfigReader(path).config(document)

    def to_dict(self) -> dict[str, Any]:
        """The document, in the field order of docs/repository.md."""
        out: dict[str, Any] = {"format": self.format}
        for key in ("name", "instrument", "skymap"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.bands:
            out["bands"] = list(self.bands)
        out["metrics"] = {name: entry.to_dict() for name, entry in self.metrics.items()}
        provenance = self.provenance.to_dict()
        if provenance:
            out["provenance"] = provenance
        if self.truth:
            out["truth"] = self.truth
        return out

    def write(self, path: Path) -> None:
        """Write the file atomically."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8")


_TOP_KEYS = ("format", "name", "instrument", "skymap", "bands", "metrics", "provenance", "truth")
_METRIC_KEYS = (
    "definition",
    "band",
    "table",
    "unit",
    "description",
    "compute",
    "selection",
    "aggregate",
    "granularity",
    "acceptable",
    "computed",
    "rows",
    "files",
)
_PROVENANCE_KEYS = ("pipeline", "configuration", "inputs", "mapping", "created", "software")


class _ConfigReader:
    """Validation of a parsed ``vigil-repo.yaml``, with the field path in every error."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, field: str | None, reason: str) -> RepositoryConfigError:
        return RepositoryConfigError(self.path, field, reason)

    def mapping(self, value: Any, field: str, keys: tuple[str, ...] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field or None, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(field or None, f"keys are names, not {_kind(key)} ({key!r})")
            if keys is not None and key not in keys:
                raise self.fail(
                    _join(field, key), f"unknown field; expected one of {', '.join(keys)}"
                )
        return value

    def text(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, date):  # an unquoted timestamp
            return value.isoformat()
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(field, f"expected text, got {_kind(value)}")
        return str(value)

    def texts(self, value: Any, field: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(field, f"expected a list of text, got {_kind(value)}")
        out = []
        for index, item in enumerate(value):
            text = self.text(item, f"{field}[{index}]")
            if text is None:
                raise self.fail(f"{field}[{index}]", "expected text, got nothing")
            out.append(text)
        return out

    def number(self, value: Any, field: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"expected a number, got {_kind(value)} ({value!r})")
        if not math.isfinite(value):
            raise self.fail(field, "expected a finite number")
        return float(value)

    def count(self, value: Any, field: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(field, f"expected a count (0 or more), got {value!r}")
        return value

    def config(self, document: Any) -> RepoConfig:
        if document is None:
            raise self.fail(None, "is empty; it needs at least 'format: 1'")
        top = self.mapping(document, "", _TOP_KEYS)
        if "format" not in top:
            raise self.fail("format", f"missing; write 'format: {FORMAT_VERSION}'")
        if top["format"] != FORMAT_VERSION:
            raise self.fail(
                "format",
                f"unsupported version {top['format']!r}; this Vigil reads format {FORMAT_VERSION}",
            )
        metrics_doc = top.get("metrics") or {}
        metrics = {
            name: self.metric(name, body)
            for name, body in self.mapping(metrics_doc, "metrics", None).items()
        }
        truth = top.get("truth") or []
        if not isinstance(truth, list) or not all(isinstance(item, dict) for item in truth):
            raise self.fail("truth", "expected a list of mappings")
        return RepoConfig(
            name=self.text(top.get("name"), "name"),
            instrument=self.text(top.get("instrument"), "instrument"),
            skymap=self.text(top.get("skymap"), "skymap"),
            bands=self.texts(top.get("bands"), "bands"),
            metrics=metrics,
            provenance=self.provenance(top.get("provenance")),
            truth=truth,
        )

    def metric(self, name: str, body: Any) -> MetricEntry:
        where = f"metrics.{name}"
        if body is None:
            return MetricEntry(name=name)
        doc = self.mapping(body, where, _METRIC_KEYS)
        table = self.text(doc.get("table"), f"{where}.table")
        if table is not None and table not in TABLES:
            raise self.fail(f"{where}.table", f"expected one of {', '.join(TABLES)}, got {table!r}")
        granularity = self.text(doc.get("granularity"), f"{where}.granularity")
        if granularity is not None and granularity not in LEVELS:
            raise self.fail(
                f"{where}.granularity", f"expected one of {', '.join(LEVELS)}, got {granularity!r}"
            )
        aggregate = self.text(doc.get("aggregate"), f"{where}.aggregate")
        if aggregate is not None:
            try:
                aggregator_from_name(aggregate, outlier_threshold=1.0)
            except ValueError as exc:
                raise self.fail(f"{where}.aggregate", str(exc)) from None
        return MetricEntry(
            name=name,
            definition=self.text(doc.get("definition"), f"{where}.definition"),
            band=self.text(doc.get("band"), f"{where}.band"),
            table=table,
            unit=self.text(doc.get("unit"), f"{where}.unit"),
            description=self.text(doc.get("description"), f"{where}.description"),
            compute=self.text(doc.get("compute"), f"{where}.compute"),
            selection=self.texts(doc.get("selection"), f"{where}.selection"),
            aggregate=aggregate,
            granularity=granularity,
            acceptable=self.acceptable(doc.get("acceptable"), f"{where}.acceptable"),
            computed=self.text(doc.get("computed"), f"{where}.computed"),
            rows=self.count(doc.get("rows"), f"{where}.rows"),
            files=self.count(doc.get("files"), f"{where}.files"),
        )

    def acceptable(self, value: Any, field: str) -> AcceptableRange | None:
        if value is None:
            return None
        doc = self.mapping(value, field, ("min", "max"))
        low = self.number(doc.get("min"), f"{field}.min")
        high = self.number(doc.get("max"), f"{field}.max")
        if low is None and high is None:
            raise self.fail(field, "give min, max or both")
        if low is not None and high is not None and low > high:
            raise self.fail(field, f"min ({low:g}) is above max ({high:g})")
        return AcceptableRange(low, high)

    def provenance(self, value: Any) -> Provenance:
        if value is None:
            return Provenance()
        doc = self.mapping(value, "provenance", _PROVENANCE_KEYS)
        pipeline = self.mapping(doc.get("pipeline") or {}, "provenance.pipeline", None)
        software = self.mapping(doc.get("software") or {}, "provenance.software", None)
        configuration = self.mapping(
            doc.get("configuration") or {}, "provenance.configuration", None
        )
        return Provenance(
            pipeline={k: str(v) for k, v in pipeline.items()},
            configuration=configuration,
            inputs=self.texts(doc.get("inputs"), "provenance.inputs"),
            mapping=self.text(doc.get("mapping"), "provenance.mapping"),
            created=self.text(doc.get("created"), "provenance.created"),
            software={k: str(v) for k, v in software.items()},
        )


def _filled(document: object, keys: tuple[str, ...]) -> dict[str, Any]:
    """The attributes *keys* of *document* that hold something, in that order."""
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(document, key)
        if value not in (None, [], {}) and not isinstance(value, AcceptableRange):
            out[key] = value
    return out


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
