"""Figures of the code's shape: the largest files, import circles, repeated code, strict typing.

Prints, over ``src/vigil``:

- the ten largest modules and how many pass 600 lines;
- import circles: strongly connected groups of modules of ``vigil.server`` that import each
  other, counting module-level imports, then those inside functions too, then those under
  ``TYPE_CHECKING`` too;
- with ``--mypy``, the number of errors ``mypy --strict`` reports over src and tests.

Run: ``.venv/bin/python bench/architecture.py [--mypy]``
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LIMIT = 600


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(
    tree: ast.Module, module: str, is_package: bool, *, deferred: bool, typing: bool
) -> Iterator[str]:
    """Modules *module* imports at module level; in functions too if *deferred*, under
    ``TYPE_CHECKING`` too if *typing*."""
    for node in tree.body:
        if not typing and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for child in ast.walk(node) if deferred or not nested else ():
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    prefix = ".".join(base + ([child.module] if child.module else []))
                else:
                    prefix = child.module or ""
                yield prefix
                yield from (f"{prefix}.{alias.name}" for alias in child.names)


def import_graph(
    package: str, *, deferred: bool = False, typing: bool = False
) -> dict[str, set[str]]:
    files = {_module(p): p for p in (SRC / package.replace(".", "/")).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set(
            _imports(tree, name, path.name == "__init__.py", deferred=deferred, typing=typing)
        )
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mypy", action="store_true", help="Count mypy --strict errors too.")
    args = parser.parse_args()
    sizes = sorted(
        ((len(p.read_text().splitlines()), p.relative_to(ROOT)) for p in SRC.rglob("*.py")),
        reverse=True,
    )
    print("Largest modules:")
    for lines, path in sizes[:10]:
        print(f"  {lines:5d}  {path}")
    print(f"Modules over {LIMIT} lines: {sum(1 for lines, _ in sizes if lines > LIMIT)}")
    kinds = (
        (False, False, "module level"),
        (True, False, "with imports in functions"),
        (True, True, "with imports in functions and for type checking"),
    )
    for deferred, typing, what in kinds:
        groups = circles(import_graph("vigil.server", deferred=deferred, typing=typing))
        print(
            f"Import circles in vigil.server, {what}: {len(groups)}"
            f" ({sum(len(g) for g in groups)} modules)"
        )
        for group in groups:
            shown = ", ".join(group[:6]) + (" ..." if len(group) > 6 else "")
            print(f"  {len(group)} modules: {shown}")
    if args.mypy:
        done = subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "src", "tests"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        match = re.search(r"Found (\d+) errors? in (\d+) files?", done.stdout)
        print(
            "mypy --strict over src and tests: "
            + (
                f"{match[1]} errors in {match[2]} files"
                if match
                else done.stdout.strip().splitlines()[-1]
            )
        )


if __name__ == "__main__":
    main()
