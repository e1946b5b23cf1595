"""The import rule of ARCHITECTURE.md: imports point only down the layers, and no two packages
import each other in a loop. Every import counts (function-level and TYPE_CHECKING ones too);
there is no exceptions list. Beside it, the size rule: no module over 800 lines, no function over
about 100."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Ground floor first. Packages on one floor may import each other, but not in a loop.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("foundation",),
    ("nacha", "ach_returns", "payouts", "payroll", "edi", "intake", "onboarding"),
    ("wire",),
    ("readers",),
    ("runtime",),
    ("adapters",),
    ("stores",),
    ("activities",),
    ("workflows",),
    ("relays",),
    ("workers",),
    ("app",),
    ("devstack", "provider_sim"),
)
MAX_FUNCTION_LINES = 110  # "about 100": a function that needs more is two steps
FLOOR = {package: floor for floor, packages in enumerate(LAYERS) for package in packages}
PACKAGE_DIRS = {
    package: (ROOT / "devtools" / package if floor == len(LAYERS) - 1 else ROOT / package)
    for package, floor in FLOOR.items()
}


def _imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Absolute names imported by one file, with line numbers (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, node.lineno


def _edges() -> Iterator[tuple[str, str, str]]:
    """(importing package, imported package, where) for every import between our packages."""
    for package, directory in PACKAGE_DIRS.items():
        assert directory.is_dir(), f"layer package {package} missing at {directory}"
        for path in sorted(directory.rglob("*.py")):
            parts = path.relative_to(directory.parent).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            for name, line in _imports(path, module):
                target = name.split(".")[0]
                if target in FLOOR and target != package:
                    yield package, target, f"{path.relative_to(ROOT)}:{line} imports {name}"


def test_every_top_level_package_has_a_floor() -> None:
    ours = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").exists() and p.name not in {"tests", "benchmarks"}
    }
    assert ours <= set(FLOOR), f"packages without a floor in LAYERS: {sorted(ours - set(FLOOR))}"


def test_imports_point_only_down() -> None:
    upward = [where for importer, imported, where in _edges() if FLOOR[imported] > FLOOR[importer]]
    assert upward == [], "imports pointing up a layer:\n" + "\n".join(upward)


def test_no_package_cycles() -> None:
    graph: dict[str, set[str]] = {package: set() for package in FLOOR}
    for importer, imported, _ in _edges():
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for package in sorted(graph):
        if package not in index:
            connect(package)
    assert loops == [], f"packages importing each other in a loop: {loops}"


@pytest.mark.parametrize("package", sorted(FLOOR))
def test_no_module_over_800_lines(package: str) -> None:
    big = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in PACKAGE_DIRS[package].rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 800
    ]
    assert big == [], "modules over 800 lines:\n" + "\n".join(big)


@pytest.mark.parametrize("package", sorted(FLOOR))
def test_no_function_over_about_100_lines(package: str) -> None:
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines"
        for path in PACKAGE_DIRS[package].rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == [], "functions over about 100 lines:\n" + "\n".join(long)
