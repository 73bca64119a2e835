"""The dependency rules of STYLE.md section 1, checked on the source with ast."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gitops"

PURE = {"trailers", "history", "render", "errors", "breaker", "budget", "slo", "records",
        "tomlplain"}
ONLY_IN = {"subprocess": {"gitcli"}, "pygit2": {"repo"},
           "click": {"cli", "cli_ops", "cli_inflight", "cli_hooks", "cli_drill",
                     "cli_controls"}}


def imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "gitops":
                names.update(f"gitops.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, set[str]]:
    return {p.stem: imports(p) for p in PACKAGE.glob("*.py")}


def test_processes_pygit2_and_click_each_have_one_doorway() -> None:
    for name, deps in modules().items():
        for lib, allowed in ONLY_IN.items():
            if any(d == lib or d.startswith(f"{lib}.") for d in deps):
                assert name in allowed, f"gitops/{name}.py imports {lib}; only {allowed} may"


def test_only_gitcli_starts_processes_without_subprocess_too() -> None:
    """gitcli starts git with os.posix_spawnp (no subprocess import on the gate's path); no
    other module may start a process by any of os's doors."""
    doors = ("posix_spawn", "os.exec", "os.system", "os.popen", "os.fork", "os.spawn")
    for path in PACKAGE.glob("*.py"):
        if path.stem != "gitcli":
            text = path.read_text()
            assert not [d for d in doors if d in text], f"{path.name} starts a process"


def test_pure_modules_import_no_adapter() -> None:
    for name in PURE:
        deps = modules()[name]
        gitops_deps = {d.removeprefix("gitops.") for d in deps if d.startswith("gitops.")}
        assert gitops_deps <= PURE | {"config"}, f"{name} imports {gitops_deps - PURE}"


def test_core_never_imports_the_cli() -> None:
    for name, deps in modules().items():
        if not name.startswith("cli") and name not in ("entry", "__main__"):
            assert "gitops.cli" not in deps, f"gitops/{name}.py imports the CLI"


def _loaded_after(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of candidates importing module loads. Without site (-S), the source tree on the
    path: an editable install's import hook loads pathlib before any of our code runs."""
    code = (f"import sys; before = set(sys.modules); import {module}, gitops.entry; "
            f"print(','.join(m for m in {candidates!r} if m in set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return [m for m in out.stdout.strip().split(",") if m]


def test_warm_path_loads_no_click_pygit2_or_subprocess() -> None:
    assert _loaded_after("gitops.fastpath", ("click", "pygit2", "subprocess", "typing",
                                             "pathlib")) == []


def test_gate_and_hooks_load_no_click_pygit2_or_typing() -> None:
    """The gate (issue 5: <= 100 ms) and commit-msg (issue 7: <= 100 ms) budgets."""
    for module in ("gitops.gate", "gitops.hook_impl"):
        assert _loaded_after(module, ("click", "pygit2", "typing")) == [], module


def test_replay_path_loads_only_os_level_modules() -> None:
    heavy = ("click", "pygit2", "subprocess", "sqlite3", "hashlib", "json", "dataclasses",
             "tomllib", "datetime")
    assert _loaded_after("gitops.warm", heavy) == []
