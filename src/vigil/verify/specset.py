"""Sets of specifications, read from lsst.verify specification YAML trees as they are.

A specification package folder (``specs/validate_drp/``) holds multi-document YAML files.
Each document is either a *specification* (has ``name``) or a *partial* (has ``id``)
that others inherit from through ``base``. Inheritance follows lsst.verify:

- a base is a partial ``[package:][path]#id`` (path relative to the package folder,
  without extension; the current file when omitted) or a specification
  ``metric.spec`` / ``package.metric.spec``;
- bases are merged first to last, then the document itself: mappings merge key by key,
  lists are appended, anything else is replaced;
- a specification inherits its metric from a base specification when it names none.

Unknown keys (the legacy ``provenance_query``) are accepted, ignored and reported at
debug level; duplicate keys keep the later value and are reported in `warnings`.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.verify._yaml import load_yaml_documents
from vigil.verify.errors import DocumentError, SpecificationResolutionError
from vigil.verify.naming import Name
from vigil.verify.spec import ThresholdSpecification

__all__ = ["SpecificationPartial", "SpecificationSet", "merge_documents"]

logger = logging.getLogger(__name__)

_PARTIAL = re.compile(r"^(?:(?P<package>[^\s:#]+):)?(?P<path>[^\s#]+)?#(?P<id>\S+)$")
_KNOWN_KEYS = {
    "name",
    "id",
    "base",
    "metric",
    "package",
    "threshold",
    "metadata_query",
    "tags",
    "type",
}


def merge_documents(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge *override* onto *base*: mappings merged recursively, lists appended."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key in merged and isinstance(merged[key], Mapping) and isinstance(value, Mapping):
            merged[key] = merge_documents(merged[key], value)
        elif key in merged and isinstance(merged[key], list) and isinstance(value, list):
            merged[key] = merged[key] + copy.deepcopy(value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(slots=True)
class SpecificationPartial:
    """A reusable fragment of specification documents, named ``package:path#id``."""

    name: str
    document: dict[str, Any]


@dataclass(slots=True)
class _Pending:
    """A document waiting for its bases, with where it came from."""

    doc: dict[str, Any]
    bases: list[str]
    source: str
    index: int
    package: str
    partial_name: str | None = None
    label: str = ""
    unresolved: list[str] = field(default_factory=list)


class SpecificationSet(Mapping[str, ThresholdSpecification]):
    """Specifications by fully-qualified name, plus the partials they were built from."""

    def __init__(
        self,
        specifications: Iterable[ThresholdSpecification] = (),
        partials: Iterable[SpecificationPartial] = (),
    ) -> None:
        self._specs: dict[str, ThresholdSpecification] = {}
        self._partials: dict[str, SpecificationPartial] = {p.name: p for p in partials}
        self.warnings: list[str] = []
        for spec in specifications:
            self.insert(spec)

    # Mapping protocol -------------------------------------------------------------
    def __getitem__(self, name: str | Name) -> ThresholdSpecification:
        key = str(name)
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"no specification named '{key}' ({len(self)} loaded)") from None

    def __contains__(self, name: object) -> bool:
        return str(name) in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"<SpecificationSet: {len(self)} specifications, {len(self._partials)} partials>"

    def insert(self, spec: ThresholdSpecification) -> None:
        """Add or replace *spec*."""
        self._specs[spec.name] = spec

    @property
    def partials(self) -> Mapping[str, SpecificationPartial]:
        """Partials by fully-qualified name (``validate_drp:hsc_gri/base#hsc-r``)."""
        return self._partials

    # Queries ----------------------------------------------------------------------
    def for_metric(self, metric: str | Name) -> list[ThresholdSpecification]:
        """The specifications of one metric."""
        name = str(metric)
        return [spec for spec in self._specs.values() if spec.metric_name == name]

    def applicable(
        self,
        metadata: Mapping[str, Any],
        metric: str | Name | None = None,
        tags: Iterable[str] = (),
    ) -> list[ThresholdSpecification]:
        """The specifications whose metadata query matches *metadata*.

        Optionally only those of one *metric* and carrying all of *tags*.
        """
        wanted = set(tags)
        specs = self.for_metric(metric) if metric is not None else self._specs.values()
        return [spec for spec in specs if wanted <= spec.tags and spec.query_metadata(metadata)]

    def subset(
        self,
        name: str | Name | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
    ) -> SpecificationSet:
        """A new set with the specifications of a package or metric *name*, matching
        *metadata* and carrying *tags*."""
        scope = Name.parse(str(name)) if name is not None else None
        if scope is not None and "." not in str(name):
            scope = Name(package=str(name))
        wanted = set(tags)
        chosen = [
            spec
            for spec in self._specs.values()
            if (scope is None or Name.parse(spec.name, kind="spec") in scope)
            and wanted <= spec.tags
            and (metadata is None or spec.query_metadata(metadata))
        ]
        return SpecificationSet(chosen, self._partials.values())

    def direction(self, metric: str | Name) -> str | None:
        """Which way is better for *metric*, as its specifications' operators say."""
        directions = {spec.direction for spec in self.for_metric(metric)} - {None}
        return directions.pop() if len(directions) == 1 else None

    def to_list(self) -> list[dict[str, Any]]:
        """Every specification in its JSON shape."""
        return [spec.to_dict() for spec in self._specs.values()]

    # Loading ----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> SpecificationSet:
        """Load specification YAML trees.

        *path* is a metrics package (a folder with ``specs/``, such as
        ``verify_metrics``), a ``specs`` folder of package folders, or one package folder
        (its name is the package name).

        Raises
        ------
        DocumentError
            A document is malformed; the message names the file, the document and the field.
        SpecificationResolutionError
            A ``base`` names a partial or specification that does not exist, or bases form
            a cycle.
        """
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder of specifications")
        if (root / "specs").is_dir():
            root = root / "specs"
        has_yaml = any(root.glob("*.yaml")) or any(root.glob("*.yml"))
        package_dirs = [root] if has_yaml else sorted(p for p in root.iterdir() if p.is_dir())
        instance = cls()
        pending: list[_Pending] = []
        for package_dir in package_dirs:
            pending.extend(instance._read_package(package_dir))
        instance._resolve(pending)
        return instance

    def _read_package(self, package_dir: Path) -> list[_Pending]:
        package = package_dir.name
        files = sorted(
            p for p in package_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
        )
        pending = []
        for file in files:
            yaml_id = file.relative_to(package_dir).with_suffix("").as_posix()
            for document in load_yaml_documents(file):
                for dup in document.duplicates:
                    self.warnings.append(
                        f"{file}, document {document.index}: duplicate key '{dup.key}' at "
                        f"line {dup.line}; the later value is used"
                    )
                if document.data is None:
                    continue
                pending.append(self._prepare(document.data, file, document.index, package, yaml_id))
        return pending

    def _prepare(self, data: Any, file: Path, index: int, package: str, yaml_id: str) -> _Pending:
        source = str(file)
        if not isinstance(data, Mapping):
            raise DocumentError(
                f"must be a mapping with 'name' or 'id', not {type(data).__name__}",
                source=source,
                document=index,
            )
        doc = dict(data)
        for key in doc.keys() - _KNOWN_KEYS:
            logger.debug("%s, document %d: key %r is not used and was ignored", source, index, key)
            del doc[key]
        if "id" in doc and "name" in doc:
            raise DocumentError(
                "has both 'id' (a partial) and 'name' (a specification)",
                source=source,
                document=index,
                field="id",
            )
        if "id" not in doc and "name" not in doc:
            raise DocumentError(
                "needs 'name' (a specification) or 'id' (a partial)",
                source=source,
                document=index,
                field="name",
            )
        raw_bases = doc.pop("base", [])
        if isinstance(raw_bases, str):
            raw_bases = [raw_bases]
        if not isinstance(raw_bases, list) or not all(isinstance(b, str) for b in raw_bases):
            raise DocumentError(
                "must be a name or a list of names", source=source, document=index, field="base"
            )
        try:
            bases = [self._normalise_base(b, package, yaml_id) for b in raw_bases]
        except DocumentError as exc:
            raise exc.located(source=source, document=index, field_prefix="base") from None
        doc["package"] = package
        pending = _Pending(doc=doc, bases=bases, source=source, index=index, package=package)
        if "id" in doc:
            partial_id = doc.pop("id")
            if not isinstance(partial_id, str):
                raise DocumentError("must be a string", source=source, document=index, field="id")
            pending.partial_name = self._normalise_partial(partial_id, package, yaml_id)
            pending.label = f"partial '{partial_id}'"
        else:
            pending.label = f"'{doc['name']}'"
        return pending

    @staticmethod
    def _normalise_partial(name: str, package: str, yaml_id: str) -> str:
        match = _PARTIAL.match(name if "#" in name else f"#{name}")
        if not match:
            raise DocumentError(f"'{name}' is not a partial name '[package:][path]#id'")
        return f"{match['package'] or package}:{match['path'] or yaml_id}#{match['id']}"

    def _normalise_base(self, name: str, package: str, yaml_id: str) -> str:
        if "#" in name:
            return self._normalise_partial(name, package, yaml_id)
        spec_name = Name(package=package, spec=name) if name.count(".") < 2 else Name(spec=name)
        if not spec_name.is_fq:
            raise DocumentError(
                f"base '{name}' must name a specification as 'metric.spec' or a partial as "
                "'path#id'"
            )
        return spec_name.fqn

    def _resolve(self, pending: list[_Pending]) -> None:
        # Documents are resolved in passes: a document whose bases are all known is built
        # and becomes available as a base itself. A pass without progress means a missing
        # base or a cycle.
        while pending:
            waiting = []
            for item in pending:
                missing = [b for b in item.bases if not self._available(b)]
                if missing:
                    item.unresolved = missing
                    waiting.append(item)
                    continue
                self._build(item)
            if len(waiting) == len(pending):
                first = waiting[0]
                names = ", ".join(f"'{b}'" for b in first.unresolved)
                raise SpecificationResolutionError(
                    f"{first.label}: cannot resolve base {names} (no such specification or "
                    f"partial, or bases that depend on each other); {len(waiting)} document(s) "
                    "are unresolved",
                    source=first.source,
                    document=first.index,
                    field="base",
                )
            pending = waiting

    def _available(self, base: str) -> bool:
        return base in self._partials if "#" in base else base in self._specs

    def _build(self, item: _Pending) -> None:
        built: dict[str, Any] = {}
        for base in item.bases:
            if "#" in base:
                built = merge_documents(built, self._partials[base].document)
            else:
                spec = self._specs[base]
                built = merge_documents(built, _spec_document(spec))
                built["metric"] = spec.metric_name.split(".", 1)[1]
        built = merge_documents(built, item.doc)
        if item.partial_name is not None:
            self._partials[item.partial_name] = SpecificationPartial(item.partial_name, built)
            return
        try:
            self.insert(self._make_spec(built, item.package))
        except DocumentError as exc:
            raise exc.located(source=item.source, document=item.index) from None

    @staticmethod
    def _make_spec(doc: dict[str, Any], package: str) -> ThresholdSpecification:
        name = doc.get("name")
        if not isinstance(name, str):
            raise DocumentError("must be a string", field="name")
        metric = doc.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise DocumentError("must be a metric name", field="metric")
        if name.count(".") >= 1 and metric is None:
            full = Name(package=package, spec=name) if name.count(".") == 1 else Name(spec=name)
        elif metric is None:
            raise DocumentError(
                f"specification '{name}' has no metric: give 'metric' or inherit it from a "
                "base specification",
                field="metric",
            )
        else:
            full = Name(package=package, metric=metric, spec=name.rsplit(".", 1)[-1])
        doc = dict(doc, name=full.fqn)
        return ThresholdSpecification.from_dict(doc)


def _spec_document(spec: ThresholdSpecification) -> dict[str, Any]:
    data = spec.to_dict()
    data["tags"] = sorted(spec.tags)
    return data
