"""Install/uninstall/inspect hook shims; marker detection; core.hooksPath handling.

Our shims carry `# gitops-hook v<N>` on line 2 (STYLE.md P11), so any version of them is
recognised and replaced, and a foreign hook never is: install refuses it unless `--chain`, which
renames it to `<name>.legacy`; the shim's hook-impl runs it first. Uninstall puts it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from gitops import resources
from gitops.context import Context
from gitops.errors import HookConflict
from gitops.git import plumbing

CLIENT_HOOKS = ("commit-msg", "prepare-commit-msg", "pre-push")
SERVER_HOOKS = ("pre-receive",)
LEGACY_SUFFIX = ".legacy"


class HookState(NamedTuple):
    name: str
    path: Path
    state: str  # "ours", "foreign", "absent"
    chained: bool  # a .legacy hook runs first


class HooksReport(NamedTuple):
    directory: Path
    hooks_path: str | None  # core.hooksPath when set
    hooks: tuple[HookState, ...]
    changed: tuple[str, ...] = ()


def is_our_script(path: Path) -> bool:
    """Whether path is a shim git-batch wrote (any version): line 2 is the marker."""
    try:
        with path.open("rb") as fh:
            head = fh.read(200).decode("utf-8", "replace").splitlines()
    except OSError:
        return False
    return len(head) >= 2 and head[1].startswith(resources.MARKER_PREFIX)


def _names(ctx: Context, server: bool | None) -> tuple[str, ...]:
    if server is None:
        server = ctx.repo.work_tree is None  # a bare repository is a server
    return SERVER_HOOKS if server else CLIENT_HOOKS


def _where(ctx: Context) -> tuple[Path, str | None]:
    return (plumbing.hooks_dir(ctx.repo.path),
            plumbing.config_get(ctx.repo.path, "core.hooksPath"))


def _state(directory: Path, name: str) -> HookState:
    path = directory / name
    legacy = directory / (name + LEGACY_SUFFIX)
    state = "absent" if not path.exists() else "ours" if is_our_script(path) else "foreign"
    return HookState(name, path, state, legacy.exists())


def status(ctx: Context, *, server: bool | None = None) -> HooksReport:
    """Which of our hooks are installed where git will run them."""
    directory, hooks_path = _where(ctx)
    states = tuple(_state(directory, n) for n in (*CLIENT_HOOKS, *SERVER_HOOKS))
    del server
    return HooksReport(directory, hooks_path, states)


def install(ctx: Context, *, chain: bool = False, server: bool | None = None) -> HooksReport:
    """Write our shims; a foreign hook is refused, or with chain kept as <name>.legacy."""
    directory, hooks_path = _where(ctx)
    names = _names(ctx, server)
    states = [_state(directory, n) for n in names]
    foreign = [s for s in states if s.state == "foreign"]
    if foreign and not chain:
        listed = ", ".join(str(s.path) for s in foreign)
        raise HookConflict(f"hooks that git-batch did not write are in the way: {listed}.",
                           hint="rerun with --chain to keep them (renamed to <name>.legacy, run "
                                "first), or move them away yourself")
    taken = [s for s in foreign if (directory / (s.name + LEGACY_SUFFIX)).exists()]
    if taken:
        raise HookConflict(f"{taken[0].path}{LEGACY_SUFFIX} already exists; chaining would "
                           "overwrite it.", hint="merge the two hooks by hand, then install")
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for s in states:
        if s.state == "foreign":
            os.replace(s.path, directory / (s.name + LEGACY_SUFFIX))
        text = resources.hook_shim(s.name)
        if s.state == "ours" and s.path.read_text(encoding="utf-8") == text:
            continue
        tmp = directory / f".{s.name}.git-batch.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        os.replace(tmp, s.path)
        changed.append(s.name)
    final = tuple(_state(directory, n) for n in (*CLIENT_HOOKS, *SERVER_HOOKS))
    return HooksReport(directory, hooks_path, final, tuple(changed))


def uninstall(ctx: Context) -> HooksReport:
    """Remove our shims (any version) and restore chained .legacy hooks; foreign ones stay."""
    directory, hooks_path = _where(ctx)
    changed = []
    for name in (*CLIENT_HOOKS, *SERVER_HOOKS):
        s = _state(directory, name)
        if s.state != "ours":
            continue
        s.path.unlink()
        legacy = directory / (name + LEGACY_SUFFIX)
        if legacy.exists():
            os.replace(legacy, s.path)
        changed.append(name)
    final = tuple(_state(directory, n) for n in (*CLIENT_HOOKS, *SERVER_HOOKS))
    return HooksReport(directory, hooks_path, final, tuple(changed))
