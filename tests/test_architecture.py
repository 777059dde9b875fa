"""segdb's import graph, read from the source with `ast`: no import cycle, and imports only go down.

The layers, top to bottom (README's architecture and issue 14)::

    segdb (its __init__ and __main__)  >  cli  >  api  >  present  >  refresh
        >  living | quality  >  cluster  >  define  >  store  >  engines  >  errors  >  _version

Rules the checker enforces on every ``segdb/**/*.py``:

* every ``import`` and ``from ... import`` counts, at module level and inside functions, classes and
  ``if TYPE_CHECKING:`` blocks, relative or absolute; ``from pkg import name`` is an import of the
  submodule ``pkg.name`` when that file exists, else of ``pkg`` itself. Imports of anything outside
  segdb are ignored, and so is the implicit import of a module's parent packages;
* (a) no cycle between modules: each strongly connected group of modules is reported with one cycle
  through it (``a -> b -> a``) and the file:line of each of its imports;
* (b) a module imports only from its own layer or from layers below it; living and quality sit side
  by side and neither imports the other. Each violation is reported as ``file:line: import``.

The checker is plain functions over a source folder, so a unit test runs it on a tiny synthetic tree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "segdb"

# top to bottom; a tuple holds siblings (same height, neither may import the other)
LAYERS: list[tuple[str, ...]] = [
    ("",),  # segdb/__init__.py and segdb/__main__.py
    ("cli",), ("api",), ("present",), ("refresh",), ("living", "quality"),
    ("cluster",), ("define",), ("store",), ("engines",), ("errors",),
    ("_version",),  # segdb/_version.py: the version string, importing nothing
]


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name, e.g. segdb.cli.core
    imported: str
    path: Path
    line: int
    text: str  # the import statement as written

    def where(self, base: Path) -> str:
        return f"{self.path.relative_to(base.parent)}:{self.line}: {self.text}"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file for every .py under ``root`` (a package folder)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def import_edges(root: Path) -> list[Edge]:
    """Every import from one module of ``root``'s package to another, wherever it is written."""
    package = root.name
    modules = module_files(root)
    edges = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        # the package a relative import starts from: the module's own for __init__, else its parent
        here = module.split(".") if _is_package(path) else module.split(".")[:-1]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if node.level - 1 > len(here) - 1:
                        raise ValueError(f"{path}:{node.lineno}: relative import beyond {package}")
                    base = here[:len(here) - (node.level - 1)]
                    base_name = ".".join(base + (node.module.split(".") if node.module else []))
                else:
                    base_name = node.module or ""
                for alias in node.names:
                    sub = f"{base_name}.{alias.name}"
                    targets.append(sub if sub in modules else base_name)
            else:
                continue
            text = ast.get_source_segment(source, node) or ast.unparse(node)
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                # `import segdb.a.b` names a module; a dotted name that is no file is an attribute
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != module:
                    edges.append(Edge(module, target, path, node.lineno, " ".join(text.split())))
    return sorted(set(edges), key=lambda e: (str(e.path), e.line, e.imported))


def find_cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One cycle (as its edges, in order) through each strongly connected group of modules."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, []).append(edge)
        graph.setdefault(edge.imported, [])

    # Tarjan's strongly connected components, iteratively (no recursion limit on deep chains)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            out = graph[node]
            if i < len(out):
                work.append((node, i + 1))
                nxt = out[i].imported
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    cycles = []
    for group in groups:
        members = set(group)
        # shortest way back to the group's first module, breadth first inside the group
        start = group[0]
        came: dict[str, Edge] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt_frontier = []
            for node in frontier:
                for edge in graph[node]:
                    if edge.imported not in members:
                        continue
                    if edge.imported == start:
                        found = edge
                        break
                    if edge.imported not in came:
                        came[edge.imported] = edge
                        nxt_frontier.append(edge.imported)
                if found:
                    break
            frontier = nxt_frontier
        cycle = [found]
        while cycle[0].importer != start:
            cycle.insert(0, came[cycle[0].importer])
        cycles.append(cycle)
    return cycles


def layer_of(module: str) -> str:
    """The layer a dotted module name belongs to: its first part under the package ('' for the
    package's own __init__ and __main__)."""
    parts = module.split(".")[1:]
    if not parts or parts == ["__main__"]:
        return ""
    return parts[0]


def upward_imports(edges: list[Edge], layers: list[tuple[str, ...]] = LAYERS) -> list[Edge]:
    """Imports from a layer above the importer's, or between siblings. A module in no layer is an
    error too (a new subpackage must be placed in the order)."""
    height = {name: len(layers) - i for i, names in enumerate(layers) for name in names}
    bad = []
    for edge in edges:
        src, dst = layer_of(edge.importer), layer_of(edge.imported)
        for layer, module in ((src, edge.importer), (dst, edge.imported)):
            if layer not in height:
                raise AssertionError(f"{module} belongs to no layer: add {layer!r} to LAYERS")
        if src != dst and height[dst] >= height[src]:
            bad.append(edge)
    return bad


def check(root: Path, layers: list[tuple[str, ...]] = LAYERS) -> list[str]:
    """Every problem in ``root``'s import graph, one readable line each (empty: all good)."""
    edges = import_edges(root)
    problems = []
    for cycle in find_cycles(edges):
        path = " -> ".join([e.importer for e in cycle] + [cycle[0].importer])
        problems.append(f"import cycle {path}: " + "; ".join(e.where(root) for e in cycle))
    for edge in upward_imports(edges, layers):
        problems.append(f"{edge.where(root)} ({layer_of(edge.importer) or '<top>'} must not import "
                        f"from {layer_of(edge.imported) or '<top>'})")
    return problems


# ----------------------------------------------------------------------------------------------
# the real tree


def test_segdb_imports_have_no_cycle_and_only_go_down():
    problems = check(ROOT)
    assert not problems, "\n".join(problems)


def test_the_checker_sees_the_whole_package():
    """Guards against a checker that passes because it reads nothing: it finds imports at module
    level and inside functions, and every subpackage is in a layer."""
    edges = import_edges(ROOT)
    pairs = {(e.importer, e.imported) for e in edges}
    assert ("segdb", "segdb.api") in pairs                        # from .api import ...
    assert ("segdb.cli", "segdb.cli.core") in pairs               # from . import core, ...
    assert ("segdb.cli.group", "segdb.store.runs") in pairs       # inside api_trigger()
    names = {layer_of(m) for m in module_files(ROOT)}
    assert names <= {n for layer in LAYERS for n in layer}


# ----------------------------------------------------------------------------------------------
# the checker on a synthetic tree


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


TINY_LAYERS = [("",), ("top",), ("left", "right"), ("low",)]


def test_checker_accepts_a_clean_tree(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "from .top import run\n",
        "pkg/top/__init__.py": "from .main import run\n",
        "pkg/top/main.py": "from ..left import a\nfrom pkg.right import b\n"
                           "def run():\n    from ..low.util import helper\n    import os\n",
        "pkg/left/__init__.py": "", "pkg/left/a.py": "from ..low import util\n",
        "pkg/right/__init__.py": "", "pkg/right/b.py": "import pkg.low.util\n",
        "pkg/low/__init__.py": "", "pkg/low/util.py": "import json\ndef helper(): pass\n",
    })
    assert check(root, TINY_LAYERS) == []


def test_checker_reports_a_cycle_and_upward_imports(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/top/__init__.py": "", "pkg/top/main.py": "from ..left import a\n",
        "pkg/left/__init__.py": "",
        "pkg/left/a.py": "from . import b\n",
        # the cycle a -> b -> c -> a, its last import inside a function
        "pkg/left/b.py": "from .c import thing\n",
        "pkg/left/c.py": "import os\n\ndef later():\n    from pkg.left.a import x\n",
        "pkg/right/__init__.py": "",
        "pkg/right/r.py": "from ..left.a import x\n",            # sibling: not allowed
        "pkg/low/__init__.py": "",
        "pkg/low/util.py": "def f():\n    from ..top import main\n",  # upward, inside a function
    })
    problems = check(root, TINY_LAYERS)
    assert len(problems) == 3, problems
    cycle, *upward = problems
    assert cycle.startswith("import cycle pkg.left.a -> pkg.left.b -> pkg.left.c -> pkg.left.a: ")
    assert "pkg/left/c.py:4: from pkg.left.a import x" in cycle
    assert "pkg/left/a.py:1: from . import b" in cycle
    assert upward == [
        "pkg/low/util.py:2: from ..top import main (low must not import from top)",
        "pkg/right/r.py:1: from ..left.a import x (right must not import from left)",
    ]


def test_checker_reports_a_two_module_cycle_across_layers(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/top/__init__.py": "", "pkg/top/main.py": "import pkg.low.util as u\n",
        "pkg/low/__init__.py": "", "pkg/low/util.py": "from pkg.top.main import run\n",
    })
    problems = check(root, TINY_LAYERS)
    assert problems[0].startswith("import cycle pkg.low.util -> pkg.top.main -> pkg.low.util")
    assert problems[1:] == ["pkg/low/util.py:1: from pkg.top.main import run (low must not import from top)"]


def test_checker_refuses_a_module_outside_every_layer(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "from . import extra\n",
        "pkg/extra.py": "",
    })
    with pytest.raises(AssertionError, match="pkg.extra belongs to no layer"):
        check(root, TINY_LAYERS)
