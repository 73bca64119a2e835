"""scan.commits_after (the later-edit range from one topological listing) against
`git rev-list --no-merges tip ^first`, on the demo registry (merges of old side branches,
squash merges, reverts) and on a history built so that commits outside first's ancestry come
after it in topological order."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops import demo, scan
from tests.conftest import Repo


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                          check=True).stdout


def listing(path: Path, tip: str) -> bytes:
    return subprocess.run(["git", "rev-list", "--topo-order", "--parents", tip], cwd=path,
                          capture_output=True, check=True).stdout


def truth(path: Path, tip: str, first: str) -> list[str]:
    return git(path, "rev-list", "--no-merges", tip, f"^{first}").split()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str], bytes]:
    info = demo.generate(tmp_path_factory.mktemp("after") / "registry", commits=300, seed=5)
    tip = git(info.path, "rev-parse", "main").strip()
    commits = git(info.path, "rev-list", "main").split()
    return info.path, tip, commits, listing(info.path, tip)


@settings(max_examples=60, deadline=None)
@given(pick=st.integers(min_value=0), limit=st.sampled_from([0, 3, 25, 10_000]))
def test_agrees_with_rev_list(registry: tuple[Path, str, list[str], bytes], pick: int,
                              limit: int) -> None:
    path, tip, commits, data = registry
    first = commits[pick % len(commits)]
    want = truth(path, tip, first)
    got = scan.commits_after(data, first, limit)
    assert got is not None
    if len(want) > limit:
        assert len(got) > limit and set(got) <= set(want)
    else:
        assert sorted(got) == sorted(want)


def test_side_branch_merged_after_first_is_in_the_range(make_repo: Callable[..., Repo]) -> None:
    """A side branch that takes in main as its merge's second parent: its own commits are not
    first's ancestors, and git lists them after first in topological order (the second
    parent's line comes first), so a cut at first's position alone would miss them."""
    r = make_repo("r")
    fork = r.head("HEAD")
    r.commit("main 1\n", {"m": "1\n"})
    first = r.commit("first\n", {"m": "2\n"})
    r.git("checkout", "-q", "-b", "side", fork)
    olds = [r.commit(f"old side {i}\n", {"s": f"{i}\n"}) for i in range(3)]
    r.git("merge", "-q", "--no-ff", "-m", "merge main into side", "main")
    tip = r.head("HEAD")
    data = listing(r.path, tip)
    ids = [line[:40].decode() for line in data.splitlines()]
    assert ids.index(olds[0]) > ids.index(first)  # the case this test is about
    got = scan.commits_after(data, first, 1000)
    assert got is not None and sorted(got) == sorted(truth(r.path, tip, first))
    assert set(olds) <= set(got)


def test_first_not_listed_is_none(registry: tuple[Path, str, list[str], bytes]) -> None:
    _path, _tip, _commits, data = registry
    assert scan.commits_after(data, "0" * 40, 10) is None
