"""The package's shape: imports point down the layers (no cycles), every registry is the one
Registry, every task, strategy and run kind lives in its own place, no task name is spelled
outside tasks/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "transferkit"

# From the bottom. A module may import from its own package and from lower layers; two
# packages on one layer (text and vision) may not import each other. The core modules form
# one layer and may import each other (cycles are checked separately).
LAYERS = [
    {"errors", "_io", "paths", "progress", "registry", "settings", "version", "wheels"},  # core
    {"data"},
    {"sources"},
    {"outputs"},
    {"engine"},
    {"strategies"},
    {"text", "vision", "audio"},  # modalities
    {"tasks"},
    {"runs"},
    {"methods"},
    {"serve"},  # HTTP over a run's Predictor
    {"cli", "__init__"},  # interfaces: the command line and the lazy façade
    {"__main__"},
]


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_graph() -> dict[str, set[str]]:
    """module -> the transferkit modules it imports (function-level imports included,
    `if TYPE_CHECKING:` blocks and a package's imports of its own submodules left out)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        base = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    target = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    target = node.module or ""
                # `from pkg import sub` imports the submodule; `from mod import name` the module.
                targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                           for alias in node.names]
            for target in targets:
                if not target.startswith("transferkit"):
                    continue
                found = resolve(target)
                if found is None or found == module or (is_package and found.startswith(module + ".")):
                    continue
                graph[module].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(top: str) -> int:
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"transferkit.{top} is on no layer: add it to LAYERS (and docs/architecture.md)")


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in import_graph().items():
        mine = _top(module)
        for target in targets:
            theirs = _top(target)
            same_package = mine == theirs
            core = _layer(mine) == _layer(theirs) == 0
            if not (same_package or core or _layer(theirs) < _layer(mine)):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_every_registry_is_the_one_registry_and_refuses_duplicates():
    from transferkit.data import DATASETS
    from transferkit.registry import Registry
    from transferkit.runs import RUN_KINDS
    from transferkit.sources import MODELS, PREFIXES
    from transferkit.strategies import STRATEGIES
    from transferkit.tasks import TASKS
    from transferkit.vision.backbones import BACKBONES

    for registry in (DATASETS, RUN_KINDS, MODELS, PREFIXES, STRATEGIES, TASKS, BACKBONES):
        assert isinstance(registry, Registry) and len(registry) > 0, registry
        name = registry.names()[0]
        with pytest.raises(ValueError, match="registered twice"):
            registry.register(name, object())
        assert registry.get(name) is not None  # the original entry is kept


def test_registry_lookup_errors_name_the_choices():
    from transferkit.errors import ConfigError
    from transferkit.registry import Registry

    registry = Registry("widget")
    registry.register("round", 1)
    registry.register("square", 2)
    with pytest.raises(ConfigError, match=r"invalid widget: 'sqaure'; choose from round, square; did you mean 'square'"):
        registry.get("sqaure")
    with registry.registered("oval", 3):
        assert registry.names() == ["round", "square", "oval"]
    assert "oval" not in registry


def test_each_plug_in_lives_in_its_own_package():
    from transferkit.runs import RUN_KINDS
    from transferkit.strategies import STRATEGIES
    from transferkit.tasks import TASKS

    for name, task in TASKS.items():
        assert task.__module__.startswith("transferkit.tasks."), name
    for name, strategy in STRATEGIES.items():
        assert strategy.__module__.startswith("transferkit.strategies."), name
    for name, loader in RUN_KINDS.items():
        assert loader.__module__.startswith("transferkit.methods."), name


def _string_constants(tree: ast.AST):
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_task_name_is_spelled_outside_tasks():
    """Code outside tasks/ asks the task registry instead of branching on a task's name."""
    from transferkit.tasks import TASKS

    names = set(TASKS.names())
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if "tasks" in path.relative_to(PACKAGE).parts:
            continue
        for node in _string_constants(ast.parse(path.read_text(encoding="utf-8"))):
            if node.value in names:
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_files_stay_small():
    big = [f"{p.relative_to(PACKAGE)} ({n} lines)" for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    assert big == []
