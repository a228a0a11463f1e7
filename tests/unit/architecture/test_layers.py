"""The package layout holds: imports point only downward and nothing imports in a circle.

Every import counts, including those inside functions and under TYPE_CHECKING: a
cycle hidden there is still a cycle for a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "supervisor"

# Bottom to top; a unit may import units at its own level or below, never above.
LAYERS: list[set[str]] = [
    {"errors"},
    {"wire", "payload", "triggers"},
    {"config"},
    {"pool", "client", "failover"},
    {"worker"},
    {"lifecycle"},
    {"scheduling"},
    {"cluster", "centrifugo"},
    {"tars"},
    {"ops"},
    {"master"},
    {"cli", "__main__"},
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
# Units at one level that must not import each other (siblings stay independent).
SIBLINGS_APART = [{"wire", "triggers"}, {"payload", "triggers"}, {"pool", "client"},
                  {"pool", "failover"}]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """Every import in `path`, anywhere in the file: (module, names imported from it)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, list[str]]] = []
    here = module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                if path.name != "__init__.py":
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = {module_name(p): p for p in root.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in modules else None

    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for base, names in imports_of(path):
            # `from supervisor.x import y` imports module x.y when there is one, else x.
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
            if len(submodules) < len(names) or not names:
                submodules.append(base)
            targets.update(t for t in map(resolve, submodules) if t and t != name)
        edges[name] = targets
    return edges


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in edges.items():
        src = unit(source)
        if src == "__init__":
            continue  # the package root re-exports the public API from below
        for target in targets:
            dst = unit(target)
            if dst == "__init__" or dst == src:
                continue
            apart = any({src, dst} <= pair for pair in SIBLINGS_APART)
            if LEVEL[dst] > LEVEL[src] or apart:
                bad.append(f"{source} imports {target} ({src} may not import {dst})")
    return bad


def test_every_unit_has_a_layer():
    units = {unit(name) for name in graph()} - {"__init__"}
    assert units <= set(LEVEL), f"add to LAYERS: {sorted(units - set(LEVEL))}"


def test_no_import_cycles():
    assert find_cycle(graph()) is None


def test_imports_point_only_downward():
    assert layer_violations(graph()) == []


def test_at_most_six_top_level_modules():
    modules = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py",
                                                                      "__main__.py")]
    assert len(modules) <= 6, modules


def test_every_subpackage_says_what_it_owns():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc.lower(), f"{init}: docstring must say what it may import"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize(("files", "expected"), [
    ({"a/__init__.py": '"""a: may import nothing."""',
      "a/one.py": "def f():\n    from supervisor.a import two\n",
      "a/two.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                  "    from supervisor.a.one import f\n"},
     ["supervisor.a.one", "supervisor.a.two", "supervisor.a.one"]),
    ({"a/__init__.py": "", "a/one.py": "import os\n"}, None),
])
def test_the_cycle_finder_sees_function_level_and_type_checking_imports(tmp_path, files,
                                                                        expected):
    root = tmp_path / "supervisor"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "__init__.py").write_text("")
    global PACKAGE
    saved, PACKAGE = PACKAGE, root
    try:
        assert find_cycle(graph(root)) == expected
    finally:
        PACKAGE = saved


def test_the_layer_check_refuses_an_upward_import():
    edges = {"supervisor.pool.allocator": {"supervisor.master.loop"},
             "supervisor.master.loop": set()}
    assert layer_violations(edges) == [
        "supervisor.pool.allocator imports supervisor.master.loop (pool may not import master)"]
