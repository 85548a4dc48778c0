"""The server's layers stay apart: no import circle, and only the factory builds stores
and services."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "src" / "vigil" / "server"


def _architecture() -> ModuleType:
    """``bench/architecture.py``, whose import graph the benchmark prints."""
    spec = importlib.util.spec_from_file_location(
        "_architecture", ROOT / "bench" / "architecture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("deferred", "typing"), [(False, False), (True, False), (True, True)], ids=str
)
def test_no_import_circle(deferred: bool, typing: bool) -> None:
    architecture = _architecture()
    graph = architecture.import_graph("vigil.server", deferred=deferred, typing=typing)
    assert architecture.circles(graph) == []


def _built(nodes: list[ast.stmt]) -> set[str]:
    """The names ending in Store or Service that *nodes* call (build)."""
    built = set()
    for node in (n for top in nodes for n in ast.walk(top)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name.endswith(("Store", "Service")) and name != "ArtifactContentStore":
                built.add(name)
    return built


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (SERVER / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path", _modules("services", "monitor/services"), ids=lambda p: str(p.relative_to(SERVER))
)
def test_services_build_no_store_or_service(path: Path) -> None:
    services = [
        node
        for node in _tree(path).body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Service")
    ]
    assert _built(list(services)) == set()


@pytest.mark.parametrize(
    "path", _modules("handlers", "monitor/handlers"), ids=lambda p: str(p.relative_to(SERVER))
)
def test_handlers_build_no_store_or_service(path: Path) -> None:
    assert _built(_tree(path).body) == set()
