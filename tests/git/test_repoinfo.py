"""repoinfo: discovery in one process, and refs read from files giving git's answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import gitcli, repoinfo
from gitops.config import Config, RepoConfig
from gitops.errors import RepositoryError
from tests.conftest import Repo, git


def _cfg(base: str = "") -> Config:
    return Config()._replace(repo=RepoConfig()._replace(base_branch=base))


def _by_git(repo: repoinfo.RepoInfo, base: str) -> tuple[str, str] | None:
    """resolve_base with the ref files out of the picture (what git alone says)."""
    original = repoinfo.ref_reader
    repoinfo.ref_reader = lambda _repo: None  # type: ignore[assignment]
    try:
        return repoinfo.resolve_base(repo, _cfg(base))
    except RepositoryError:
        return None
    finally:
        repoinfo.ref_reader = original


def test_open_repository_work_tree_subdir_git_dir_and_bare(make_repo: Callable[..., Repo],
                                                            tmp_path: Path) -> None:
    r = make_repo("r")
    (r.path / "sub").mkdir()
    top = repoinfo.open_repository(r.path / "sub")
    assert top.work_tree == r.path.resolve() and top.git_dir == (r.path / ".git").resolve()
    inside = repoinfo.open_repository(r.path / ".git")
    assert inside.work_tree is None
    git(tmp_path, "clone", "-q", "--bare", str(r.path), "bare.git")
    bare = repoinfo.open_repository(tmp_path / "bare.git")
    assert bare.work_tree is None and bare.git_dir == (tmp_path / "bare.git").resolve()
    with pytest.raises(RepositoryError):
        repoinfo.open_repository(tmp_path)


def test_refs_from_files_equal_git(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    first = r.head()
    r.commit("second", {"a.txt": "a"})
    git(r.path, "branch", "packed-one", first)
    git(r.path, "update-ref", "refs/remotes/origin/main", first)
    git(r.path, "update-ref", "refs/git-batch/ops-seen/heads/batch-ops", first)
    git(r.path, "pack-refs", "--all")
    git(r.path, "branch", "loose-one")  # loose, after packing
    git(r.path, "update-ref", "refs/remotes/origin/main", r.head())  # loose overrides packed
    git(r.path, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    info = repoinfo.open_repository(r.path)
    names = ["refs/heads/main", "refs/heads/packed-one", "refs/heads/loose-one",
             "refs/remotes/origin/main", "refs/remotes/origin/HEAD", "refs/heads/missing",
             "refs/heads", "refs/git-batch/ops-seen/heads/batch-ops", "refs/heads/main/x"]
    assert repoinfo.read_refs(info, names) == {
        k: v for k, v in gitcli.read_refs(r.path, names).items()
        if k != "refs/remotes/origin/HEAD"}  # a symref: neither names it as itself
    assert "refs/remotes/origin/HEAD" not in repoinfo.read_refs(info, names)
    for base in ("", "main", "packed-one", "loose-one", "origin/main", "refs/heads/main",
                 "missing", "HEAD"):
        found = _by_git(info, base)
        if found is None:
            with pytest.raises(RepositoryError):
                repoinfo.resolve_base(info, _cfg(base))
        else:
            assert repoinfo.resolve_base(info, _cfg(base)) == found, base


def test_ambiguous_or_unusual_bases_are_left_to_git(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    git(r.path, "tag", "-a", "-m", "a tag named like the branch", "main")  # refs/tags/main
    git(r.path, "update-ref", "refs/remotes/origin/HEAD", r.head())  # detached, not a symref
    info = repoinfo.open_repository(r.path)
    assert repoinfo._base_from_files(info, "main") is None
    assert repoinfo._base_from_files(info, "") is None
    assert repoinfo.resolve_base(info, _cfg("")) == _by_git(info, "")


def test_pull_refs_from_files_equal_git(make_repo: Callable[..., Repo]) -> None:
    from gitops import scan  # noqa: PLC0415

    r = make_repo("r")
    first = r.head()
    r.commit("second", {"a.txt": "a"})
    for n in (1, 2, 10):
        git(r.path, "update-ref", f"refs/pull/{n}/head", first)
    git(r.path, "update-ref", "refs/pull/2/merge", first)  # not a head: not listed
    git(r.path, "pack-refs", "--all")
    git(r.path, "update-ref", "refs/pull/10/head", r.head())  # loose overrides packed
    git(r.path, "update-ref", "refs/pull/11/head", r.head())
    info = repoinfo.open_repository(r.path)
    cfg = Config()
    from_files = scan.list_pulls(info, cfg)
    original = repoinfo.ref_reader
    scan.ref_reader = lambda _repo: None  # type: ignore[assignment]
    try:
        from_git = scan.list_pulls(info, cfg)
    finally:
        scan.ref_reader = original
    assert from_files == from_git
    assert sorted(from_files) == [f"refs/pull/{n}/head" for n in (1, 10, 11, 2)]


def test_ref_listing_by_pattern_equals_git(make_repo: Callable[..., Repo]) -> None:
    """RefReader.list opens only the ref files a pattern can name; it must list what git lists
    for the same pattern ('*': part of one path component), packed and loose alike."""
    from gitops.refs import RefReader  # noqa: PLC0415

    r = make_repo("r")
    first = r.head()
    r.commit("second", {"a.txt": "a"})
    names = ["refs/pull/1/head", "refs/pull/2/merge", "refs/pull/pr3/head", "refs/pull/7",
             "refs/pull/a-x", "refs/pull/12/head", "refs/merge-requests/4/head",
             "refs/pull/5/head/x", "refs/pulls/6/head", "refs/pull/8/other/head",
             "refs/pull/3-y/head"]
    for name in names:
        git(r.path, "update-ref", name, first)
    git(r.path, "pack-refs", "--all")
    for name in ("refs/pull/12/head", "refs/pull/13/head", "refs/pull/a-x", "refs/pull/9/head"):
        git(r.path, "update-ref", name, r.head())  # loose: new, or overriding a packed one
    info = repoinfo.open_repository(r.path)
    reader = RefReader(repoinfo.git_dirs(info))
    listed = dict(line.split(" ")[::-1] for line in git(
        r.path, "for-each-ref", "--format=%(objectname) %(refname)").splitlines())
    for pattern in ("refs/pull/*/head", "refs/merge-requests/*/head", "refs/pull/pr*/head",
                    "refs/pull/*", "refs/pull/*-x", "refs/pull/*-y/head", "refs/none/*/head"):
        before, _, after = pattern.partition("*")
        expected = {n: o for n, o in listed.items() if n.startswith(before) and n.endswith(after)
                    and len(n) >= len(before) + len(after)
                    and "/" not in n[len(before):len(n) - len(after)]}
        assert reader.list(pattern) == expected, pattern
    assert reader.list("refs/pull/") == {n: o for n, o in listed.items()
                                         if n.startswith("refs/pull/")}
