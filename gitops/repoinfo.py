"""Where the repository is and what its base branch is: the first thing every command asks.

Kept apart from scan.py (history walks) so that commands which only read the ops branch (`gate`,
the hooks) do not import the history parser.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from gitops import gitcli
from gitops.errors import RepositoryError
from gitops.gitcli import Oid
from gitops.records import NamedTuple
from gitops.refs import GitDirs, RefReader

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from pathlib import Path

    from gitops.config import Config
    from gitops.gitcli import StrPath


class RepoInfo(NamedTuple):
    path: StrPath  # where git runs (work tree or git dir)
    git_dir: StrPath
    common_dir: StrPath
    work_tree: StrPath | None
    shallow: bool


def repo_path(repo_arg: str | None, environ: Mapping[str, str]) -> Path:
    """Where to look for the repository: --repo, else $GIT_DIR, else the working directory."""
    # `git --git-dir=X batch` exports GIT_DIR; gitcli drops inherited GIT_* variables, so turn it
    # into an explicit path here.
    from pathlib import Path  # noqa: PLC0415 - not on the show-after-new-commits path

    repo_arg = repo_arg or environ.get("GIT_DIR")
    return Path(repo_arg) if repo_arg else Path.cwd()


_PROBE = ("rev-parse", "--absolute-git-dir", "--git-common-dir", "--is-bare-repository",
          "--is-shallow-repository", "--is-inside-work-tree", "--show-cdup")


def probe(path: Path) -> gitcli.Running:
    """Start the one git process open_repository needs, so a caller can import meanwhile."""
    # --show-cdup (not --show-toplevel, which fails in a bare repository or a git dir) is
    # printed only inside a work tree, as a path relative to path ("" at the top).
    return gitcli.spawn(*_PROBE, repo=path)


def open_repository(path: Path, started: gitcli.Running | None = None) -> RepoInfo:
    """Describe the repository at path (started: probe(path), already running); RepositoryError
    when it is not one."""
    if not path.exists():
        if started is not None:
            started.kill()
        raise RepositoryError(f"{path}: no such directory.", hint="pass an existing path to --repo")
    res = (started or probe(path)).result(frozenset({0, 128}))
    if res.returncode != 0:
        raise RepositoryError(
            f"{path}: not a git repository (or any parent up to a ceiling directory).",
            hint="run inside a repository or pass --repo PATH",
        )
    from pathlib import Path  # noqa: PLC0415

    git_dir_s, common_s, bare_s, shallow_s, inside_s, *rest = res.text.split("\n")
    git_dir = Path(git_dir_s)
    common = Path(common_s) if Path(common_s).is_absolute() else (path / common_s).resolve()
    work_tree = None
    if bare_s != "true" and inside_s == "true" and rest:
        work_tree = (path / rest[0]).resolve()
    return RepoInfo(path, git_dir, common.resolve(), work_tree, shallow_s == "true")


def git_dirs(repo: RepoInfo) -> GitDirs:
    """repo's directories as the refs module (no pathlib) takes them."""
    return GitDirs(str(repo.git_dir), str(repo.common_dir),
                   str(repo.work_tree) if repo.work_tree else None)


def ref_reader(repo: RepoInfo) -> RefReader | None:
    """A reader of the ref files, or None when git must be asked (reftable, odd layouts)."""
    common = str(repo.common_dir)
    if os.path.exists(os.path.join(common, "reftable")) or not os.path.isdir(
            os.path.join(common, "refs", "heads")):
        return None
    return RefReader(git_dirs(repo))


def read_refs(repo: RepoInfo, names: Iterable[str]) -> dict[str, Oid]:
    """The values of the given full ref names that exist (as gitcli.read_refs), from the ref
    files when the repository keeps them as files: the gate reads its refs without a process."""
    reader = ref_reader(repo)
    if reader is None:
        return gitcli.read_refs(repo.path, names)
    out: dict[str, Oid] = {}
    for name in dict.fromkeys(names):
        found = reader.read(name) if name.startswith("refs/") else None
        if found is not None and found[0] == name:
            out[name] = Oid(found[1])
    return out


def _base_from_files(repo: RepoInfo, name: str) -> tuple[str, Oid] | None:
    """The base branch read from the ref files when that is unambiguous: a branch or a
    remote-tracking branch. Tags, HEAD, a detached origin/HEAD: None, git decides."""
    reader = ref_reader(repo)
    found = reader.base(name) if reader is not None else None
    if found is None:
        return None
    full, oid = found
    if not full.startswith(("refs/heads/", "refs/remotes/")) or full.endswith("/HEAD"):
        return None
    return full, Oid(oid)


def resolve_base(repo: RepoInfo, cfg: Config) -> tuple[str, Oid]:
    """(full ref name, commit id) of the base branch; RepositoryError when it is missing."""
    name = cfg.repo.base_branch
    found = _base_from_files(repo, name)
    if found is not None:
        return found
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
