"""Where the repository is and what its base branch is: the first thing every command asks.

Kept apart from scan.py (history walks) so that commands which only read the ops branch (`gate`,
the hooks) do not import the history parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from gitops import gitcli
from gitops.config import Config
from gitops.errors import RepositoryError
from gitops.gitcli import Oid


class RepoInfo(NamedTuple):
    path: Path  # where git runs (work tree or git dir)
    git_dir: Path
    common_dir: Path
    work_tree: Path | None
    shallow: bool


def open_repository(path: Path) -> RepoInfo:
    """Describe the repository at path; RepositoryError when it is not one."""
    if not path.exists():
        raise RepositoryError(f"{path}: no such directory.", hint="pass an existing path to --repo")
    # One process: --show-cdup (not --show-toplevel, which fails in a bare repository or a git
    # dir) is printed only inside a work tree, as a path relative to path ("" at the top).
    res = gitcli.run(
        "rev-parse", "--absolute-git-dir", "--git-common-dir", "--is-bare-repository",
        "--is-shallow-repository", "--is-inside-work-tree", "--show-cdup", repo=path,
        ok=frozenset({0, 128}),
    )
    if res.returncode != 0:
        raise RepositoryError(
            f"{path}: not a git repository (or any parent up to a ceiling directory).",
            hint="run inside a repository or pass --repo PATH",
        )
    git_dir_s, common_s, bare_s, shallow_s, inside_s, *rest = res.text.split("\n")
    git_dir = Path(git_dir_s)
    common = Path(common_s) if Path(common_s).is_absolute() else (path / common_s).resolve()
    work_tree = None
    if bare_s != "true" and inside_s == "true" and rest:
        work_tree = (path / rest[0]).resolve()
    return RepoInfo(path, git_dir, common.resolve(), work_tree, shallow_s == "true")


def resolve_base(repo: RepoInfo, cfg: Config) -> tuple[str, Oid]:
    """(full ref name, commit id) of the base branch; RepositoryError when it is missing."""
    name = cfg.repo.base_branch
    if not name:
        res = gitcli.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", repo=repo.path,
                         ok=frozenset({0, 1, 128}))
        candidates = [res.text.strip()] if res.returncode == 0 else []
        candidates += ["refs/heads/main", "HEAD"]
    else:
        candidates = [name]
    for cand in candidates:
        if not cand:
            continue
        oid = gitcli.resolve_commit(repo.path, cand)
        if oid is None:
            continue
        full = gitcli.run("rev-parse", "--verify", "--symbolic-full-name", "--end-of-options", cand,
                          repo=repo.path, ok=frozenset({0, 128})).text.strip()
        return (full or cand), oid
    if name:
        raise RepositoryError(
            f"base branch '{name}' does not exist in {repo.path}.",
            hint="fetch it, or set repo.base_branch in .git-batch.toml (or pass --base)",
        )
    raise RepositoryError(
        f"{repo.path}: no base branch: origin/HEAD, main and HEAD do not name a commit.",
        hint="commit something first, or set repo.base_branch in .git-batch.toml",
    )
