"""The import rules of the layout (STYLE.md 1, 12, 14), checked on the source with ``ast``.

* (a) a ``_private`` module or name is used only inside its own package;
* (b) no cycle between the top-level packages;
* (c) no backward arrow: a stage imports only itself and earlier stages (:data:`STAGES`);
* (d) the product never imports the lab (``evalsuite.lab``).

Every import counts, lazy ones inside functions too: a lazy import is still an arrow a reader has to follow.
Each rule lists all of its violations at once, so a failure reads as a to-do list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: The one place that says which way imports flow. A unit (a top-level package or module of ``evalsuite``)
#: may import units of its own stage and of earlier stages only. ``base`` holds the standard-library-only
#: helpers any stage may use; records come early because every stage from the run on reads or writes them;
#: the task families know tasks and files, not models; the lab comes last: it may import
#: anything, nothing imports it.
STAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"errors", "strict_json", "_env", "launch", "lazy", "packaged", "paths", "__init__"})),
    ("spec", frozenset({"spec"})),
    ("records", frozenset({"records"})),
    ("families", frozenset({"families"})),
    ("models", frozenset({"models"})),
    ("engine", frozenset({"engine"})),
    ("diagnostics", frozenset({"diagnostics"})),
    ("run", frozenset({"run"})),
    ("stats", frozenset({"stats"})),
    ("compare", frozenset({"compare"})),
    ("report", frozenset({"report"})),
    ("cli", frozenset({"cli"})),
    ("lab", frozenset({"lab"})),
)
RANK = {unit: i for i, (_, units) in enumerate(STAGES) for unit in units}
STAGE_NAME = {unit: name for name, units in STAGES for unit in units}


@dataclass(frozen=True)
class Import:
    """One ``import``/``from ... import`` of an evalsuite module: who, where, what."""

    importer: str  # dotted module name, e.g. evalsuite.run.runner
    path: str  # file:line
    target: str  # the imported module, e.g. evalsuite.compare._family
    names: tuple[str, ...] = ()  # names taken from it (from-imports)


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(source: str, module: str, where: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every evalsuite import in ``source`` (relative imports resolved against ``module``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "evalsuite":
                    yield Import(module, f"{where}:{node.lineno}", alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, target] if target else base)
            if target.split(".")[0] == "evalsuite":
                yield Import(module, f"{where}:{node.lineno}", target, tuple(a.name for a in node.names))


def tree_imports(root: Path) -> list[Import]:
    out: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        mod = module_name(path, root)
        where = path.relative_to(root.parent).as_posix()
        out += imports_of(path.read_text(), mod, where, is_package=path.name == "__init__.py")
    return out


def unit_of(module: str) -> str:
    """The top-level unit of ``evalsuite.x.y``: ``x`` (``__init__`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def package_of(module: str, *, is_module: bool = True) -> str:
    """The package a module lives in (``evalsuite.run.distributed.hooks`` -> ``evalsuite.run.distributed``)."""
    return module.rsplit(".", 1)[0] if is_module else module


def targets(imp: Import, known_modules: set[str]) -> Iterator[str]:
    """The modules an import reaches: the target, and ``from pkg import mod`` submodules."""
    yield imp.target
    for name in imp.names:
        if f"{imp.target}.{name}" in known_modules:
            yield f"{imp.target}.{name}"


def private_violations(imps: Iterable[Import], packages: set[str], modules: set[str]) -> list[str]:
    """(a) ``_private`` modules and names reached from outside the package that holds them."""
    out = []
    for imp in imps:
        own = imp.importer if imp.importer in packages else package_of(imp.importer)
        for mod in targets(imp, modules):
            parts = mod.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    holder = ".".join(parts[:i])
                    if not (own == holder or own.startswith(holder + ".")):
                        out.append(f"{imp.path}: {imp.importer} imports private module {mod}")
                    break
        for name in imp.names:
            if name.startswith("_") and not name.startswith("__") and f"{imp.target}.{name}" not in modules:
                holder = imp.target if imp.target in packages else package_of(imp.target)
                if not (own == holder or own.startswith(holder + ".")):
                    out.append(f"{imp.path}: {imp.importer} imports private name {imp.target}.{name}")
    return sorted(set(out))


def unit_edges(imps: Iterable[Import]) -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for imp in imps:
        a, b = unit_of(imp.importer), unit_of(imp.target)
        if b == "__init__" and imp.names:  # `from evalsuite import strict_json`: the module named
            for name in imp.names:
                edges.setdefault((a, name), []).append(imp.path)
            continue
        edges.setdefault((a, b), []).append(imp.path)
    return {k: v for k, v in edges.items() if k[0] != k[1]}


def cycle_violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """(b) every strongly connected set of two or more units (Tarjan), with one import of each arrow in it."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:
        arrows = [f"{a} -> {b} ({edges[(a, b)][0]})" for a in comp for b in comp if (a, b) in edges]
        out.append(f"cycle between {', '.join(comp)}: " + "; ".join(arrows))
    return out


def order_violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """(c) an arrow from a stage to a later one; a unit missing from :data:`STAGES` is a violation too."""
    out = []
    for (a, b), where in sorted(edges.items()):
        if a == "lab" or b == "lab":
            continue  # rule (d)
        missing = [u for u in (a, b) if u not in RANK]
        if missing:
            out.append(f"{where[0]}: evalsuite.{missing[0]} has no stage in tests/test_layout.py STAGES")
        elif RANK[b] > RANK[a]:
            out.append(f"{', '.join(where)}: {a} ({STAGE_NAME[a]}) imports {b} ({STAGE_NAME[b]}), a later stage")
    return out


def lab_violations(imps: Iterable[Import]) -> list[str]:
    """(d) a product module importing the lab."""
    return sorted(f"{imp.path}: {imp.importer} imports {imp.target}" for imp in imps
                  if unit_of(imp.importer) != "lab" and unit_of(imp.target) == "lab")


def _check(root: Path) -> dict[str, list[str]]:
    imps = tree_imports(root)
    files = list(root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    packages = {module_name(p, root) for p in files if p.name == "__init__.py"}
    edges = unit_edges(imps)
    return {"private": private_violations(imps, packages, modules), "cycles": cycle_violations(edges),
            "order": order_violations(edges), "lab": lab_violations(imps)}


@pytest.fixture(scope="module")
def violations() -> dict[str, list[str]]:
    return _check(REPO / "evalsuite")


@pytest.mark.parametrize("rule", ["private", "cycles", "order", "lab"])
def test_import_rule(violations: dict[str, list[str]], rule: str) -> None:
    found = violations[rule]
    assert not found, f"{len(found)} {rule} violation(s):\n" + "\n".join(found)


def test_every_package_has_a_stage() -> None:
    units = {p.name.removesuffix(".py") for p in (REPO / "evalsuite").iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert units - set(RANK) == set(), "add these to STAGES"


# -- the checker itself, on a made-up tree with one violation of each kind ------------------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "evalsuite" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "evalsuite"


def test_the_checker_finds_each_kind_of_violation(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "__init__.py": "",
        "spec/__init__.py": "from evalsuite.engine import forward\n",  # (c) and, with engine -> spec, (b)
        "engine/__init__.py": "",
        "engine/forward.py": "from evalsuite.spec import x\nfrom evalsuite.lab.bench import y\n",  # (d)
        "compare/__init__.py": "",
        "compare/_family.py": "def _helper(): ...\n",
        "report/__init__.py": "from evalsuite.compare._family import _helper\n",  # (a) module and name
        "lab/__init__.py": "",
    })
    found = _check(root)
    assert found["private"] == [
        "evalsuite/report/__init__.py:1: evalsuite.report imports private module evalsuite.compare._family",
        "evalsuite/report/__init__.py:1: evalsuite.report imports private name evalsuite.compare._family._helper"]
    assert found["cycles"] == ["cycle between engine, spec: engine -> spec (evalsuite/engine/forward.py:1); "
                               "spec -> engine (evalsuite/spec/__init__.py:1)"]
    assert found["order"] == ["evalsuite/spec/__init__.py:1: spec (spec) imports engine (engine), a later stage"]
    assert found["lab"] == ["evalsuite/engine/forward.py:2: evalsuite.engine.forward imports evalsuite.lab.bench"]


def test_a_private_module_is_free_inside_its_own_package(tmp_path: Path) -> None:
    root = _write(tmp_path, {"__init__.py": "", "compare/__init__.py": "from evalsuite.compare._join import j\n",
                             "compare/_join.py": "from ._table import _t\n", "compare/_table.py": ""})
    assert _check(root)["private"] == []
