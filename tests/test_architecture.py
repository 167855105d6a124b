"""The house rules of docs/DESIGN.md, checked: contracts, no cycles between concerns, small modules.

`lint-imports` runs the import-linter contracts of pyproject.toml (layers pointing down, forbidden reaches).
The rest reads the source: a cycle between two concerns counts function-level and TYPE_CHECKING imports
too (grimp sees every import statement), and module and function sizes keep the code walkable.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "monitor"
MAX_MODULE_LINES = 300
MAX_FUNCTION_P90 = 25
MAX_LOOSE_MODULES = 16


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a test dependency"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def concern(module: str) -> str:
    """monitor.check.sweep -> check; monitor.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def concern_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("monitor")
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if concern(module) != concern(imported):
                edges[concern(module)].add(concern(imported))
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of nodes, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_concerns() -> None:
    assert find_cycle(concern_graph()) is None


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_too_long(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES


def test_functions_stay_short() -> None:
    lengths = sorted(
        node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    assert lengths[int(len(lengths) * 0.9)] <= MAX_FUNCTION_P90


def test_few_modules_loose_at_the_top() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_no_module_shadows_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names)
    # `email` and `http` live inside monitor.notify, where they cannot hide the standard library from
    # absolute imports; nothing at the top of the package may shadow one.
    assert not {p.stem for p in PACKAGE.glob("*.py")} & stdlib
    assert {p.stem for p in modules()} & stdlib <= {"email", "http"}
