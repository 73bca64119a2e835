"""git.repository: discovery and the base branch come from git, so git's own rules hold:
safe.directory, linked worktrees, bare repositories, GIT_DIR."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import Config, RepoConfig
from gitops.errors import RepositoryError
from gitops.git import repository
from tests.conftest import Repo, cli_env, git, git_batch


def _cfg(base: str = "") -> Config:
    return Config()._replace(repo=RepoConfig()._replace(base_branch=base))


def test_open_repository_work_tree_subdir_git_dir_and_bare(make_repo: Callable[..., Repo],
                                                            tmp_path: Path) -> None:
    r = make_repo("r")
    (r.path / "sub").mkdir()
    top = repository.open_repository(r.path / "sub")
    assert top.work_tree == r.path.resolve() and top.git_dir == (r.path / ".git").resolve()
    inside = repository.open_repository(r.path / ".git")
    assert inside.work_tree is None
    git(tmp_path, "clone", "-q", "--bare", str(r.path), "bare.git")
    bare = repository.open_repository(tmp_path / "bare.git")
    assert bare.work_tree is None and bare.git_dir == (tmp_path / "bare.git").resolve()
    with pytest.raises(RepositoryError, match="not a git repository"):
        repository.open_repository(tmp_path)


def test_base_branch_as_git_resolves_it(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    first = r.head()
    r.git("tag", "-a", "-m", "v1", "v1")
    r.git("branch", "release", first)
    info = repository.open_repository(r.path)
    assert repository.resolve_base(info, _cfg()) == ("refs/heads/main", first)
    assert repository.resolve_base(info, _cfg("release")) == ("refs/heads/release", first)
    assert repository.resolve_base(info, _cfg("v1")) == ("refs/tags/v1", first)
    with pytest.raises(RepositoryError, match="does not exist"):
        repository.resolve_base(info, _cfg("nope"))


def test_a_linked_worktree_shares_the_common_dir(make_repo: Callable[..., Repo],
                                                 tmp_path: Path) -> None:
    r = make_repo("r")
    r.commit("batch\n\nBatch-Id: 2026-03-01-001\n", {"recipes/a.toml": "x = 1\n"})
    r.git("worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    wt = repository.open_repository(tmp_path / "wt")
    main = repository.open_repository(r.path)
    assert wt.common_dir == main.common_dir and wt.git_dir != main.git_dir
    assert wt.work_tree == (tmp_path / "wt").resolve()
    # the base branch is the shared main, whichever worktree asks
    assert repository.resolve_base(wt, _cfg())[1] == r.head()
    listed = git_batch(tmp_path / "wt", "list")
    assert listed.returncode == 0, listed.stderr
    assert "2026-03-01-001" in listed.stdout
    # one index for both worktrees, under the common dir
    assert list((main.common_dir / "git-batch").glob("index-*.sqlite"))
    assert not (wt.git_dir / "git-batch").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to give the repository another owner")
def test_a_repository_git_calls_dubious_is_refused_with_gits_reason(
        make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    os.chown(r.path, 12345, 12345)
    os.chown(r.path / ".git", 12345, 12345)
    res = git_batch(r.path, "list")
    assert res.returncode == 6
    assert "dubious ownership" in res.stderr and "not a git repository" not in res.stderr
    assert f"safe.directory {r.path.resolve()}" in res.stderr
    assert "Traceback" not in res.stderr
    git(r.path.parent, "config", "--global", "--add", "safe.directory", str(r.path.resolve()))
    assert git_batch(r.path, "list").returncode == 0


def test_git_dir_from_the_command_line(make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    """`git --git-dir=X batch ...` exports GIT_DIR: the tool works on X, not on the cwd."""
    r = make_repo("r")
    r.commit("batch\n\nBatch-Id: 2026-03-01-001\n", {"recipes/a.toml": "x = 1\n"})
    out = subprocess.run(("git", f"--git-dir={r.path / '.git'}", "batch", "list"), cwd=tmp_path,
                         capture_output=True, text=True, env=cli_env())
    assert out.returncode == 0, out.stderr
    assert "2026-03-01-001" in out.stdout


def test_replace_refs_change_neither_membership_nor_files(make_repo: Callable[..., Repo]) -> None:
    """`git replace` makes `git log` show a forged commit; git batch reads history as it was
    committed, so the batch keeps its commit, its files and its id."""
    r = make_repo("r")
    real = r.commit("add alpha\n\nBatch-Id: 2026-03-01-001\n", {"recipes/a.toml": "x = 1\n"})
    forged = r.git("commit-tree", "-p", r.head("HEAD~1"), "-m",
                   "add alpha\n\nBatch-Id: 2026-03-01-999", r.head("HEAD^{tree}")).strip()
    r.git("replace", real, forged)
    assert "2026-03-01-999" in r.git("log", "-1", "--format=%B")  # git itself is fooled
    for args in (("show", "2026-03-01-001", "--json"), ("show", "2026-03-01-001", "--no-index",
                                                         "--json")):
        res = git_batch(r.path, *args)
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert [c["oid"] for c in doc["commits"]] == [real]
        assert doc["files"]["added"] == ["recipes/a.toml"]
    listed = git_batch(r.path, "list", "--json")
    assert [b["batch_id"] for b in json.loads(listed.stdout)["batches"]] == ["2026-03-01-001"]
    assert git_batch(r.path, "show", "2026-03-01-999").returncode == 7
