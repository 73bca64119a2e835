"""Where the repository is and what its base branch is: the first thing every command asks.

Both answers come from git itself (`rev-parse`, `for-each-ref`), so that `safe.directory`,
linked worktrees, `GIT_DIR`/`GIT_WORK_TREE`, reftable and packed refs behave exactly as they do
for git.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from gitops.config import Config
from gitops.errors import RepositoryError
from gitops.git import plumbing, process
from gitops.git.process import Oid


class RepoInfo(NamedTuple):
    path: Path  # where git runs (work tree or git dir)
    git_dir: Path
    common_dir: Path  # shared by every worktree: refs, objects, our index live here
    work_tree: Path | None
    shallow: bool


def repo_path(repo_arg: str | None, environ: Mapping[str, str]) -> Path:
    """Where to look for the repository: --repo, else $GIT_DIR, else the working directory."""
    # `git --git-dir=X batch` exports GIT_DIR; process.git_env drops inherited GIT_* variables,
    # so it becomes an explicit path here.
    repo_arg = repo_arg or environ.get("GIT_DIR")
    return Path(repo_arg) if repo_arg else Path.cwd()


def open_repository(path: Path) -> RepoInfo:
    """Describe the repository at path; RepositoryError, with git's own reason, when git will
    not work there (not a repository, or one git refuses, such as a 'dubious ownership')."""
    if not path.exists():
        raise RepositoryError(f"{path}: no such directory.", hint="pass an existing path to --repo")
    # --show-cdup (not --show-toplevel, which fails in a bare repository or a git dir) is
    # printed only inside a work tree, as a path relative to path ("" at the top).
    res = process.run("rev-parse", "--absolute-git-dir", "--git-common-dir",
                      "--is-bare-repository", "--is-shallow-repository", "--is-inside-work-tree",
                      "--show-cdup", repo=path, ok=frozenset({0, 128}))
    if res.returncode != 0:
        reason = res.stderr.decode("utf-8", "replace").strip().splitlines()
        first = reason[0].removeprefix("fatal: ") if reason else "no reason given"
        raise RepositoryError(f"git cannot work in {path}: {first}", hint=_hint(reason, path))
    git_dir_s, common_s, bare_s, shallow_s, inside_s, *rest = res.text.split("\n")
    common = Path(common_s)
    if not common.is_absolute():
        common = path / common
    work_tree = None
    if bare_s != "true" and inside_s == "true" and rest:
        work_tree = (path / rest[0]).resolve()
    return RepoInfo(path, Path(git_dir_s), common.resolve(), work_tree, shallow_s == "true")


def _hint(reason: list[str], path: Path) -> str:
    """The next step for git's refusal. git's message is shown as it is; only the hint picks a
    case, and a wrong pick costs a less useful hint, never a wrong decision."""
    if any("safe.directory" in line for line in reason):
        return ("git refuses repositories owned by someone else; if you trust this one, say so "
                f"once: git config --global --add safe.directory {path.resolve()}")
    return "run inside a repository or pass --repo PATH"


def read_refs(repo: RepoInfo, names: Iterable[str]) -> dict[str, Oid]:
    """The values of the given full ref names that exist."""
    return plumbing.read_refs(repo.path, names)


def resolve_base(repo: RepoInfo, cfg: Config) -> tuple[str, Oid]:
    """(full ref name, commit id) of the base branch; RepositoryError when it is missing."""
    return read_base_and_refs(repo, cfg)[0]


def read_base_and_refs(repo: RepoInfo, cfg: Config, patterns: Iterable[str] = ()
                       ) -> tuple[tuple[str, Oid], list[plumbing.RefTip]]:
    """The base branch (full ref name, commit id) and the refs matching patterns (full names or
    for-each-ref patterns), read together: one `for-each-ref`, plus one `rev-parse` to expand a
    configured short name. RepositoryError when there is no base branch.

    Without a configured name the base is origin/HEAD's target, else main, else HEAD."""
    name = cfg.repo.base_branch
    if name:
        full = plumbing.full_ref_name(repo.path, name)
        candidates = [full] if full else []
    else:
        candidates = ["refs/remotes/origin/HEAD", "refs/heads/main"]
    listed = plumbing.list_refs(repo.path, [*candidates, *patterns])
    by_name = {tip.name: tip for tip in listed}
    for candidate in candidates:
        if candidate in by_name:
            tip = by_name[candidate]
            return (tip.symref or candidate, tip.oid), listed
    # not a ref git lists (HEAD, a commit id, an expression): git resolves it
    fallback = name or "HEAD"
    oid = plumbing.resolve_commit(repo.path, fallback)
    if oid is not None:
        return (plumbing.full_ref_name(repo.path, fallback) or fallback, oid), listed
    if name:
        raise RepositoryError(
            f"base branch '{name}' does not exist in {repo.path}.",
            hint="fetch it, or set repo.base_branch in .git-batch.toml (or pass --base)",
        )
    raise RepositoryError(
        f"{repo.path}: no base branch: origin/HEAD, main and HEAD do not name a commit.",
        hint="commit something first, or set repo.base_branch in .git-batch.toml",
    )
