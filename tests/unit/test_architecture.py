"""The boundaries of docs/architecture.md, checked on the source with ast.

Only gitops/git/ starts processes or imports pygit2; only gitops/cli/ imports click; pure
modules import no adapter; the core never imports the CLI; neither the modules nor the packages
import each other in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gitops"

# Pure: plain data in, plain data out; no git, files, clock or environment.
PURE = {"gitops.git.trailers", "gitops.history.report", "gitops.history.log", "gitops.recipes",
        "gitops.ops.state", "gitops.ops.breaker", "gitops.ops.budget", "gitops.ops.slo",
        "gitops.ops.controls", "gitops.enforce.rules", "gitops.errors"}
PROCESS_MODULES = ("subprocess", "multiprocessing", "pty")
PROCESS_CALLS = ("os.system", "os.popen", "os.posix_spawn", "os.spawn", "os.exec", "os.fork")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """Every module path imports, at any depth (function-local imports count too):
    `from x import y` is x.y when that is a module of ours, else x."""
    known = modules()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in known else node.module)
    return names


def internal_graph() -> dict[str, set[str]]:
    """module -> the gitops modules it imports."""
    known = modules()
    return {name: {d for d in imports(path) if d in known and d not in (name, "gitops")}
            for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def package_of(module: str) -> str:
    """gitops.history.index -> gitops.history; top-level modules are their own node."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_modules_import_each_other_without_a_cycle() -> None:
    cycle = find_cycle(internal_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_packages_import_each_other_without_a_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for module, deps in internal_graph().items():
        pkg = package_of(module)
        graph.setdefault(pkg, set()).update(package_of(d) for d in deps if package_of(d) != pkg)
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_git_package_starts_processes_or_imports_pygit2() -> None:
    for name, path in modules().items():
        deps = imports(path)
        text = path.read_text()
        if name != "gitops.git.process":
            started = [m for m in PROCESS_MODULES if m in deps]
            started += [c for c in PROCESS_CALLS if c in text]
            assert not started, f"{name} starts processes ({started}); only git.process may"
        if name != "gitops.git.objects":
            assert not any(d == "pygit2" or d.startswith("pygit2.") for d in deps), \
                f"{name} imports pygit2; only gitops.git.objects may"


def test_only_the_cli_imports_click_and_nothing_imports_the_cli() -> None:
    for name, path in modules().items():
        deps = imports(path)
        if not name.startswith("gitops.cli") and name != "gitops.__main__":
            assert not any(d == "click" or d.startswith("click.") for d in deps), \
                f"{name} imports click; only gitops.cli may"
            assert not any(d.startswith("gitops.cli") for d in deps), f"{name} imports the CLI"


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_modules_import_no_adapter(name: str) -> None:
    graph = internal_graph()
    allowed = PURE | {"gitops.config"}
    assert graph[name] <= allowed, f"{name} imports {graph[name] - allowed}"
    assert not {"os", "sys", "time", "sqlite3", "tempfile"} & imports(modules()[name]), \
        f"{name} reads the environment, files or the clock"


def test_every_module_opens_with_a_docstring() -> None:
    for name, path in modules().items():
        if name.endswith("__main__"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{name} has no docstring"


def test_architecture_doc_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    for path in modules().values():
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and path.parent != PACKAGE:
            rel = path.parent.relative_to(ROOT).as_posix() + "/"
        assert rel in text, f"docs/architecture.md does not mention {rel}"
