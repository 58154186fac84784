"""The package's import graph holds its layers (ARCHITECTURE.md, "Layers"): no cycle, no import from a lower
layer to a higher one, and no function-level import of an alignbench module beyond the commented allow-list.

Every import statement counts, at module level or inside a function, except those under ``if TYPE_CHECKING:``
(annotations only, never run). The graph is read from the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

import alignbench

ROOT = Path(alignbench.__file__).resolve().parents[1]  # the directory holding the package

# Lowest first. A module belongs to the first layer naming its top-level name under alignbench (``""``: the
# package's own __init__, the Python API). Imports go down or sideways (within a layer, without cycles).
LAYERS: list[tuple[str, set[str]]] = [
    ("leaves and statistics",
     {"errors", "io", "names", "owned", "secrets", "safe_yaml", "lifetime", "progress", "dirlock",
                               "distributed", "plugins", "registry", "version", "stats", "ranking", "length_control"}),
    ("tasks", {"tasks"}),
    ("models", {"models"}),
    ("training", {"training"}),
    ("methods", {"methods"}),
    ("evaluation", {"evaluation", "frontier"}),
    ("publishing", {"tables", "report_html", "leaderboard"}),
    ("config", {"config", "preflight", "rundir"}),
    ("stages", {"stages", "pipeline", "grid"}),
    ("front ends", {"cli", "__main__", ""}),
]

# Function-level imports of alignbench modules that stay, and why. A key names the importing module and the
# imported one; "*" stands for any module.
ALLOWED_LATE: dict[tuple[str, str], str] = {
    ("alignbench", "*"): "the Python API: `import alignbench` (run before every submodule "
    "and CLI command) loads no torch",
    ("alignbench.cli", "*"): "start-up time: each command imports what it runs, so `alignbench --help` and a bad "
    "command answer in a second without torch",
    ("alignbench.pipeline", "alignbench.stages.publish"): "memory: tables and plots bring pandas and matplotlib "
    "(~100 MB resident) the training stages need not carry",
    (
        "alignbench.evaluation.evaluators",
        "alignbench.models.reward",
    ): "start-up time: judge-only LLM runs never load torch models",
}

# Modules whose function-level imports are left out of the cycle check (none: the registry names built-ins by
# import strings, resolved by importlib on first use, which no import statement shows).
LATE_LOADERS: set[str] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    late: bool  # inside a function


def modules(root: Path, package: str = "alignbench") -> dict[str, Path]:
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: dict, package: str
) -> list[str]:
    """The modules of ``package`` one import statement loads (the deepest known module of each name)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = importer.split(".")[: len(importer.split(".")) - (0 if is_package else 1)]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        names = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
    out = []
    for name in names:
        if name != package and not name.startswith(package + "."):
            continue
        while name not in known:
            name = name.rsplit(".", 1)[0]
        out.append(name)
    return list(dict.fromkeys(out))  # `from m import a, b` is one import of m


def import_graph(root: Path = ROOT, package: str = "alignbench") -> tuple[dict[str, Path], list[Import]]:
    known = modules(root, package)
    found: list[Import] = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))

        def walk(node: ast.AST, late: bool, name=name, path=path) -> None:
            for child in ast.iter_child_nodes(node):
                if _type_checking(child):
                    for rest in child.orelse:
                        walk(rest, late)
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _targets(child, name, path.name == "__init__.py", known, package):
                        if target != name:
                            found.append(Import(name, target, child.lineno, late))
                walk(child, late or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

        walk(tree, False)
    return known, found


def cycles(known: dict, imports: list[Import], skip_late_from: set[str] = frozenset()) -> list[list[str]]:
    """Strongly connected components of more than one module (function-level imports of ``skip_late_from`` left out)."""
    names = sorted(known)
    index = {n: i for i, n in enumerate(names)}
    edges = {(index[i.importer], index[i.imported]) for i in imports if not (i.late and i.importer in skip_late_from)}
    rows, cols = zip(*edges) if edges else ((), ())
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    _, label = connected_components(graph, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, lab in zip(names, label):
        groups.setdefault(int(lab), []).append(name)
    return sorted(g for g in groups.values() if len(g) > 1)


def layer_of(module: str, package: str = "alignbench", layers=LAYERS) -> int | None:
    top = module[len(package):].lstrip(".").split(".")[0]
    return next((i for i, (_, tops) in enumerate(layers) if top in tops), None)


def upward(imports: list[Import], package: str = "alignbench", layers=LAYERS) -> list[str]:
    out = []
    for i in imports:
        low, high = layer_of(i.importer, package, layers), layer_of(i.imported, package, layers)
        if low is not None and high is not None and high > low:
            out.append(f"{i.importer}:{i.line} imports {i.imported} ({layers[low][0]} < {layers[high][0]})")
    return out


def unexplained_late(imports: list[Import], allowed=ALLOWED_LATE) -> list[str]:
    return [f"{i.importer}:{i.line} imports {i.imported} inside a function" for i in imports
            if i.late and (i.importer, i.imported) not in allowed and (i.importer, "*") not in allowed]


# --- the package -------------------------------------------------------------------------------------------

KNOWN, IMPORTS = import_graph()


def test_every_module_has_a_layer():
    assert [m for m in KNOWN if layer_of(m) is None] == [], ("name the new module's layer "
                                                             "in LAYERS (and ARCHITECTURE.md)")


def test_no_import_cycles():
    assert cycles(KNOWN, IMPORTS, skip_late_from=LATE_LOADERS) == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    assert upward(IMPORTS) == []


def test_function_level_imports_are_on_the_allow_list():
    assert unexplained_late(IMPORTS) == []


# --- the checks themselves, on a package made for each ---------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"pkg/__init__.py": "", **files}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


TOY_LAYERS = [("low", {"low"}), ("high", {"high"})]


def test_the_checks_see_late_relative_and_dotted_imports(tmp_path):
    root = _package(tmp_path, {
        "pkg/low.py": "def f():\n    from .high import g\n",
        "pkg/high.py": "import pkg.low\n",
        "pkg/sub/__init__.py": "from .. import low\n",
        "pkg/sub/mod.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg "
                          "import high\nfrom . import other\n",
        "pkg/sub/other.py": "",
    })
    known, imports = import_graph(root, "pkg")
    assert {(i.importer, i.imported, i.late) for i in imports} == {
        ("pkg.low", "pkg.high", True), ("pkg.high", "pkg.low", False), ("pkg.sub", "pkg.low", False),
        ("pkg.sub.mod", "pkg.sub.other", False)}  # the TYPE_CHECKING import is not one
    assert cycles(known, imports) == [["pkg.high", "pkg.low"]]
    assert upward(imports, "pkg", TOY_LAYERS) == ["pkg.low:2 imports pkg.high (low < high)"]
    assert unexplained_late(imports, {}) == ["pkg.low:2 imports pkg.high inside a function"]
    assert unexplained_late(imports, {("pkg.low", "pkg.high"): "why"}) == []
    assert cycles(known, imports, skip_late_from={"pkg.low"}) == []
    assert cycles(known, imports, skip_late_from={"pkg.high"}) != []  # its import is at module level


def test_a_layered_acyclic_package_passes(tmp_path):
    root = _package(tmp_path, {"pkg/low.py": "", "pkg/high.py": "from .low import x\ndef f():\n    import pkg.low\n"})
    known, imports = import_graph(root, "pkg")
    assert cycles(known, imports) == [] and upward(imports, "pkg", TOY_LAYERS) == []
    assert unexplained_late(imports, {("pkg.high", "*"): "why"}) == []


@pytest.mark.parametrize("module", ["alignbench.evaluation.comparison", "alignbench.evaluation.grading_item",
                                    "alignbench.models.samples", "alignbench.models.reward_base", "alignbench.version"])
def test_shared_types_sit_in_leaf_modules(module):
    """The types several modules share import nothing of alignbench above the leaves."""
    assert {i.imported for i in IMPORTS if i.importer == module and layer_of(i.imported) != 0} == set()
