"""Recognise lsst.verify files on disk: jobs, measurements, metric and specification trees."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vigil.verify._yaml import TaggedMapping, load_yaml_documents
from vigil.verify.errors import DocumentError
from vigil.verify.job import Job
from vigil.verify.measurement import Measurement
from vigil.verify.metric import MetricSet
from vigil.verify.specset import SpecificationSet

__all__ = ["LoadedFiles", "load_path"]


@dataclass
class LoadedFiles:
    """What a set of paths held, merged: jobs, loose measurements, metrics and specs."""

    jobs: list[tuple[str, Job]] = field(default_factory=list)
    measurements: list[tuple[str, Measurement]] = field(default_factory=list)
    metrics: MetricSet = field(default_factory=MetricSet)
    specs: SpecificationSet = field(default_factory=SpecificationSet)
    warnings: list[str] = field(default_factory=list)


def load_path(path: str | Path, into: LoadedFiles | None = None) -> LoadedFiles:
    """Read *path* into *into* (a new `LoadedFiles` by default) according to what it is.

    - a folder with ``metrics/`` or ``specs/`` (a metrics package such as verify_metrics):
      its metrics and specifications;
    - a folder named ``metrics``: metric files; any other folder of YAML files with
      specification documents: a specification package; a butler-style tree of
      measurement YAML files: every measurement in it;
    - a ``.json`` file: a job;
    - a ``.yaml`` file: a measurement, a metrics file, or a specification file.

    Raises
    ------
    DocumentError
        A file is malformed, or is none of these; the message names the file.
    """
    loaded = into if into is not None else LoadedFiles()
    target = Path(path)
    if not target.exists():
        raise DocumentError("no such file or folder", source=str(target))
    if target.is_dir():
        _load_dir(target, loaded)
    elif target.suffix == ".json":
        loaded.jobs.append((str(target), Job.read(target)))
    elif target.suffix in (".yaml", ".yml"):
        _load_yaml_file(target, loaded)
    else:
        raise DocumentError(
            "is not a job (.json), a measurement, metric or specification file (.yaml)",
            source=str(target),
        )
    return loaded


def _load_dir(target: Path, loaded: LoadedFiles) -> None:
    if (target / "metrics").is_dir() or (target / "specs").is_dir():
        if (target / "metrics").is_dir():
            _merge_metrics(loaded, MetricSet.load(target))
        if (target / "specs").is_dir():
            _merge_specs(loaded, SpecificationSet.load(target))
        return
    if target.name == "metrics":
        _merge_metrics(loaded, MetricSet.load(target))
        return
    yaml_files = sorted(p for p in target.rglob("*") if p.suffix in (".yaml", ".yml"))
    kinds = {_yaml_kind(p) for p in yaml_files}
    if "spec" in kinds:
        _merge_specs(loaded, SpecificationSet.load(target))
        return
    for file in yaml_files:
        if _yaml_kind(file) == "measurement":
            loaded.measurements.append((str(file), Measurement.read(file)))
    for file in sorted(target.rglob("*.json")):
        loaded.jobs.append((str(file), Job.read(file)))


def _merge_metrics(loaded: LoadedFiles, metrics: MetricSet) -> None:
    for metric in metrics.values():
        loaded.metrics.insert(metric)


def _merge_specs(loaded: LoadedFiles, specs: SpecificationSet) -> None:
    for spec in specs.values():
        loaded.specs.insert(spec)
    loaded.warnings.extend(specs.warnings)


def _yaml_kind(file: Path) -> str:
    """``measurement``, ``spec``, ``metrics`` or ``other``, from the first document."""
    try:
        first = next(iter(load_yaml_documents(file)), None)
    except DocumentError:
        return "other"
    data = first.data if first else None
    if isinstance(data, TaggedMapping) and data.tag == "lsst.verify.Measurement":
        return "measurement"
    if isinstance(data, Mapping):
        if "metric" in data and "value" in data:
            return "measurement"
        if "name" in data or "id" in data:
            return "spec"
        if data and all(isinstance(v, Mapping) for v in data.values()):
            return "metrics"
    return "other"


def _load_yaml_file(target: Path, loaded: LoadedFiles) -> None:
    kind = _yaml_kind(target)
    if kind == "measurement":
        loaded.measurements.append((str(target), Measurement.read(target)))
    elif kind == "metrics":
        _merge_metrics(loaded, MetricSet.load(target))
    elif kind == "spec":
        # A lone specification file: its folder is its package.
        specs = SpecificationSet.load(target.parent)
        _merge_specs(loaded, specs)
    else:
        # Parse once more to report the precise YAML error, if there is one.
        for _ in load_yaml_documents(target):
            pass
        raise DocumentError(
            "is neither a measurement, a metrics file nor a specification file "
            "(a specification document has 'name' or 'id'; a metrics file maps metric names "
            "to definitions)",
            source=str(target),
        )
