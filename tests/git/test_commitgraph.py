"""commitgraph.commit_count: the commit-graph header read as git writes it (differential)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitops import commitgraph
from tests.conftest import Repo, git


def objects(repo: Repo | Path) -> str:
    return str((repo.path if isinstance(repo, Repo) else repo) / ".git" / "objects")


def commits(repo: Repo, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        repo.commit(f"c{i}\n", {"f": f"{i}\n"})


def count(repo: Repo) -> int:
    return int(repo.git("rev-list", "--all", "--count"))


def test_no_graph_is_none(make_repo: Callable[..., Repo]) -> None:
    assert commitgraph.commit_count(objects(make_repo("r"))) is None


def test_single_file_counts_what_git_wrote(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    commits(r, 7)
    r.git("commit-graph", "write", "--reachable")
    assert commitgraph.commit_count(objects(r)) == count(r) == 8


def test_split_chain_adds_up_its_files(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    commits(r, 5)
    r.git("commit-graph", "write", "--reachable", "--split")
    commits(r, 4, start=5)
    r.git("commit-graph", "write", "--reachable", "--split=no-merge")
    chain = Path(objects(r), "info", "commit-graphs", "commit-graph-chain").read_text().split()
    assert len(chain) == 2
    assert commitgraph.commit_count(objects(r)) == count(r) == 10


def test_alternate_graph_is_used_as_git_would(make_repo: Callable[..., Repo],
                                              tmp_path: Path) -> None:
    r = make_repo("r")
    commits(r, 3)
    r.git("commit-graph", "write", "--reachable")
    git(tmp_path, "clone", "-q", "--shared", str(r.path), "shared")
    assert commitgraph.commit_count(objects(tmp_path / "shared")) == 4


def test_not_a_graph_is_none_not_a_crash(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    commits(r, 2)
    r.git("commit-graph", "write", "--reachable")
    path = Path(objects(r), "info", "commit-graph")
    data = path.read_bytes()
    path.chmod(0o644)
    for broken in (b"", data[:10], b"XXXX" + data[4:], data[:4] + b"\x02" + data[5:]):
        path.write_bytes(broken)
        assert commitgraph.commit_count(objects(r)) is None
