"""The import structure holds: no import cycle among the package's modules or among the benchmark scripts, and
imports run one way through the layers (core <- simulators <- datasets <- surrogate <- optimize <- the CLI).

Read from the source with ast (no module is imported): every import statement counts, a lazy one inside a
function too, since a cycle through a lazy import is still one module needing the other.
"""

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> folder (pyproject's [tool.setuptools.package-dir])
PACKAGES = {
    "phenograd": "phenograd",
    "phenograd.core": "core",
    "phenograd.simulators": "simulators",
    "phenograd.datasets": "datasets",
    "phenograd.surrogate": "surrogate",
    "phenograd.optimize": "optimize",
    "benchmarks": "benchmarks",
}
LAYERS = [
    "phenograd.core",
    "phenograd.simulators",
    "phenograd.datasets",
    "phenograd.surrogate",
    "phenograd.optimize",
    "phenograd",
]


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def _runtime_nodes(tree):
    """Every node of tree but those under `if TYPE_CHECKING:` (imports for type annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def _imports(name: str, path: Path, known) -> set[str]:
    """The modules among `known` that the module `name` imports."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            # `from package import module` imports the module (the package is its parent, set up first);
            # `from module import name` the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if name.startswith("benchmarks.") and f"benchmarks.{target}" in known:  # a script beside it on sys.path
                target = f"benchmarks.{target}"
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, the first repeated at the end), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _layer(name: str) -> int:
    return max(k for k, layer in enumerate(LAYERS) if name == layer or name.startswith(layer + "."))


def test_the_graph_sees_the_imports_it_should():
    graph = _graph()
    assert "phenograd.core.errors" in graph["phenograd.simulators.xfoil"]
    assert "phenograd.cli_run" in graph["phenograd.cli_model"]  # `from phenograd.cli_run import ...`
    assert "phenograd.cli_model" in graph["phenograd.cli"]  # `from phenograd import cli_model`
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_in_the_package_or_the_benchmarks():
    graph = _graph()
    assert _cycle({k: v for k, v in graph.items() if not k.startswith("benchmarks")}) is None
    assert _cycle({k: v for k, v in graph.items() if k.startswith("benchmarks")}) is None


def test_imports_run_one_way_through_the_layers():
    graph = _graph()
    up = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if not name.startswith("benchmarks")
        for target in targets
        if not target.startswith("benchmarks") and _layer(target) > _layer(name)
    )
    assert up == []
    assert not any(t.startswith("phenograd") for t in graph["phenograd.core"])


def test_benchmarks_run_as_modules_without_path_edits():
    """`python -m benchmarks.NAME` from the repository root: helpers are `benchmarks.*`, the fuzz targets
    `tests.fuzzing`; no script puts a folder on sys.path."""
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    assert scripts and [p.name for p in scripts if "sys.path" in p.read_text()] == []
