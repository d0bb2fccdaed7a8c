"""The layer order of ARCHITECTURE.md, kept: every import goes down (or stays in its layer), and no module
imports itself back through others (no cycles), counting imports inside functions too.

The walk reads the source (AST), so it sees lazy imports as well; ``importlib.import_module`` by name
(plugin and entry-point discovery) is the one dynamic import and is not followed.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("algorithms", "benchmarks", "analysis")

# bottom to top; a module belongs to the layer of its longest matching prefix
LAYERS = (
    ("contract", ("algorithms.errors", "algorithms.base", "benchmarks.__init__")),
    ("algorithms", ("algorithms",)),
    ("envs", ("benchmarks.envs",)),
    ("data", ("benchmarks.data",)),
    ("tasks", ("benchmarks.tasks",)),
    ("store", ("benchmarks.store",)),
    ("training", ("benchmarks.training",)),
    ("analysis", ("analysis",)),
    ("perf", ("benchmarks.perf",)),
    ("cli", ("benchmarks.cli",)),
)


def modules(root: Path) -> dict:
    """{dotted module name: path} of the project's packages (a package's own module is NAME.__init__)."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            out[".".join(rel.parts)] = path
    return out


def _target(name: str, known: dict) -> str | None:
    """The project module an imported dotted name refers to (a package -> its __init__), or None."""
    parts = name.split(".")
    while parts:
        dotted = ".".join(parts)
        if dotted in known:
            return dotted
        if dotted + ".__init__" in known:
            return dotted + ".__init__"
        parts.pop()
    return None


def imports(root: Path) -> dict:
    """{module: {imported project module: line}} from every import statement, at any depth."""
    known = modules(root)
    graph = {}
    for mod, path in known.items():
        pkg = mod.rsplit(".", 1)[0] if not mod.endswith(".__init__") else mod[: -len(".__init__")]
        edges = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                # `from pkg import sub` imports the submodule when there is one
                names = [f"{base}.{a.name}" for a in node.names] if base else []
            for name in names:
                t = _target(name, known)
                if t and t != mod:
                    edges.setdefault(t, node.lineno)
        graph[mod] = edges
    return graph


def layer_of(mod: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    if rank is None:
        raise AssertionError(f"module {mod} is in no layer: add it to LAYERS and ARCHITECTURE.md")
    return rank


def violations(root: Path) -> list[str]:
    graph = imports(root)
    out = []
    for mod, edges in graph.items():
        for t, line in edges.items():
            if layer_of(t) > layer_of(mod):
                out.append(f"{mod}:{line} imports {t}: layer '{LAYERS[layer_of(mod)][0]}' may not import "
                           f"from the layer above it, '{LAYERS[layer_of(t)][0]}'")
    out += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def cycles(graph: dict) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v), on.add(v)
        for w in graph.get(v, {}):
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
                found.append(sorted(comp) + [sorted(comp)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_goes_down_the_layers_and_nothing_imports_in_a_circle():
    assert violations(ROOT) == []


def test_every_module_is_in_a_layer_and_every_layer_is_in_the_architecture_doc():
    for mod in modules(ROOT):
        layer_of(mod)
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    for name, prefixes in LAYERS:
        for p in prefixes:
            shown = p.replace(".", "/")
            assert shown in doc or f"`{p}`" in doc, f"ARCHITECTURE.md does not name layer '{name}' ({p})"


@pytest.fixture
def tree(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_planted_upward_import_is_found(tree):
    bc = tree / "algorithms" / "bc.py"
    bc.write_text(bc.read_text() + "\n\ndef _planted():\n    from benchmarks.training.train import fit\n")
    found = violations(tree)
    assert len(found) == 1 and found[0].startswith("algorithms.bc:") and "'training'" in found[0]


def test_a_planted_cycle_inside_one_layer_is_found(tree):
    smacv2 = tree / "benchmarks" / "envs" / "smac.py"
    smacv2.write_text(smacv2.read_text() + "\n\ndef _planted():\n    from benchmarks.envs.smacv2 import MAPS\n")
    found = violations(tree)
    assert found == ["import cycle: benchmarks.envs.smac -> benchmarks.envs.smacv2 -> benchmarks.envs.smac"]


def test_relative_imports_resolve_to_the_module_they_name(tree):
    graph = imports(tree)
    assert "algorithms.base" in graph["algorithms.bc"] and "algorithms.__init__" in graph["algorithms.bc"]
    assert "benchmarks.tasks.games" in graph["benchmarks.tasks.__init__"]


def _file_map() -> dict:
    """{path named in the file map of ARCHITECTURE.md ("The files"): True if it exists}."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("## The files", 1)[1].split("```", 2)[1]
    named, top, sub = {}, None, None
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first = line.split()[0]
        if indent == 0:
            top, sub = first, None
            named[first] = (ROOT / first).exists()
        elif first.endswith("/") and top:
            sub = first
            named[top + first] = (ROOT / top / first).is_dir()
        if indent == 0 or not top:
            continue
        for tok in (t.strip("(),;") for t in line.split()):
            if tok.endswith(".py"):
                where = [ROOT / top / (sub or "") / tok, ROOT / top / tok]
                named[f"{top}{sub or ''}{tok}"] = any(p.exists() for p in where)
        if indent == 2 and not first.endswith("/"):
            sub = None
    return named


def test_the_file_map_names_what_is_in_the_tree():
    named = _file_map()
    assert [p for p, ok in named.items() if not ok] == []
    for path in sorted((ROOT / "algorithms").glob("*.py")):
        assert f"algorithms/{path.name}" in named or path.name in ("__init__.py",) and "algorithms/__init__.py" in named
    for d in sorted(p for p in (ROOT / "benchmarks").iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert f"benchmarks/{d.name}/" in named, f"ARCHITECTURE.md's file map does not show benchmarks/{d.name}/"
    for f in sorted((ROOT / "benchmarks" / "perf").glob("[!_]*.py")):
        assert f"benchmarks/perf/{f.name}" in named


def test_the_line_counts_the_docs_quote_are_true():
    import re

    for doc in [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path, n in re.findall(r"`([\w/]+\.py)` \((\d+) lines\)", doc.read_text()):
            assert len((ROOT / path).read_text().splitlines()) == int(n), f"{doc.name} says {path} has {n} lines"
