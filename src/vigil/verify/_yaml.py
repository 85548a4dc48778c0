"""YAML reading for lsst.verify files: fast C parser, merge keys, duplicate keys, custom tags.

lsst.verify writes measurements with the tags ``!<lsst.verify.Measurement>``,
``!<lsst.verify.Blob>`` and ``!<lsst.verify.Datum>``; they are read into `TaggedMapping`
so the model classes can tell them apart. Duplicate keys are accepted (the later one
wins, as PyYAML and lsst.verify do) and recorded so that callers can report them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vigil.verify.errors import DocumentError

__all__ = ["DuplicateKey", "TaggedMapping", "YamlDocument", "dump_yaml", "load_yaml_documents"]

logger = logging.getLogger(__name__)

# The C loader (libyaml) when PyYAML was built with it; the same interface either way.
if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_MERGE_TAG = "tag:yaml.org,2002:merge"
VERIFY_TAGS = ("lsst.verify.Measurement", "lsst.verify.Blob", "lsst.verify.Datum")


class TaggedMapping(dict[str, Any]):
    """A mapping read from a YAML node that carried a custom tag such as ``lsst.verify.Blob``."""

    tag: str = ""


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """A key that appears twice in one mapping; the later value was kept."""

    key: str
    line: int


@dataclass(slots=True)
class YamlDocument:
    """One document of a YAML file with where it came from."""

    data: Any
    index: int
    line: int
    duplicates: list[DuplicateKey]


class _Loader(_BaseLoader):
    duplicates: list[DuplicateKey]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                self.duplicates.append(
                    DuplicateKey(key=str(key_node.value), line=key_node.start_mark.line + 1)
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _construct_tagged(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return loader.construct_object(node, deep=True)
    mapping = TaggedMapping(loader.construct_mapping(node, deep=True))
    mapping.tag = tag_suffix
    return mapping


_Loader.add_multi_constructor(
    "lsst.verify.",
    lambda loader, suffix, node: _construct_tagged(loader, "lsst.verify." + suffix, node),
)
_Loader.add_multi_constructor(
    "tag:yaml.org,2002:lsst.verify.",
    lambda loader, suffix, node: _construct_tagged(loader, "lsst.verify." + suffix, node),
)


def load_yaml_documents(source: str | Path, text: str | None = None) -> Iterator[YamlDocument]:
    """Yield every document of a YAML file (or of *text*, labelled *source*).

    Raises
    ------
    DocumentError
        The YAML does not parse; the message names the file, the document and the line.
    """
    label = str(source)
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DocumentError("is not a UTF-8 text file", source=label) from None
    loader = _Loader(text)
    loader.duplicates = []
    index = 0
    try:
        while True:
            index += 1
            if not loader.check_node():
                break
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            line = node.start_mark.line + 1
            data = loader.construct_document(node)
            duplicates, loader.duplicates = loader.duplicates, []
            for dup in duplicates:
                logger.debug(
                    "%s, document %d: duplicate key %r at line %d (the later value wins)",
                    label,
                    index,
                    dup.key,
                    dup.line,
                )
            yield YamlDocument(data=data, index=index, line=line, duplicates=duplicates)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DocumentError(
            f"is not valid YAML{where}: {problem}", source=label, document=index
        ) from None
    finally:
        loader.dispose()


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML."""
    return yaml.dump(data, Dumper=_BaseDumper, sort_keys=False, default_flow_style=False)
