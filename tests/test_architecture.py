"""The layout rules of docs/architecture.md, checked on the source (no database needed):
apps depend one way, no module imports itself back through others (function-level imports
included), only the dialect layer asks which database it runs on, and no file is too long
to read."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lower layers first; a package may import its own layer and the layers below it.
LAYERS = {
    "cs_platform": 0,
    "rules": 1,
    "customers": 2,
    "usage": 3,
    "segments": 4,
    "health": 5,
    "playbooks": 6,
    "workspace": 7,
    "demo": 8,
}
# The project's wiring composes every app (settings name them, URLconfs include them).
WIRING = {"cs_platform.urls", "cs_platform.api.urls", "cs_platform.settings.base"}
MAX_LINES = 500


def _source_files() -> Iterator[Path]:
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every project module ``path`` imports, at module level or inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            # ``from package import module`` imports the module; otherwise a name of origin.
            targets = [f"{origin}.{alias.name}" for alias in node.names] + [origin]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in LAYERS:
                yield target


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in _source_files()}


def test_apps_depend_one_way():
    wrong = []
    for module, path in _modules().items():
        if module in WIRING:
            continue
        own = module.split(".")[0]
        for target in _imports(path):
            other = target.split(".")[0]
            if other != own and LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{module} imports {target}")
    assert sorted(set(wrong)) == []


def test_no_import_circles():
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for target in _imports(path):
            # Resolve ``package.name`` to the longest module that exists.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module and not module.startswith(target + "."):
                edges.add(target)
        graph[module] = edges

    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_only_the_dialect_layer_asks_for_the_database_vendor():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _source_files()
        if "connection.vendor" in path.read_text() and path.parent.name != "db"
    ]
    assert offenders == []


@pytest.mark.parametrize("suffix", [".py", ".sql", ".html", ".js"])
def test_no_file_is_too_long_to_read(suffix):
    folders = [*(ROOT / package for package in LAYERS), ROOT / "templates", ROOT / "static"]
    too_long = {
        str(path.relative_to(ROOT)): length
        for folder in folders
        for path in folder.rglob(f"*{suffix}")
        if "migrations" not in path.parts
        and "vendor" not in path.parts
        and (length := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
