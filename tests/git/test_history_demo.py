"""History against the demo generator's ground truth, through the index and straight from git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops import demo, gitcli, lookup, scan
from gitops.context import load_context

SOURCE_OF_FORM = {"trailer": "trailer", "legacy": "legacy", "pull-request": "pull-request",
                  "merge": "trailer"}


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoInfo:
    return demo.generate(tmp_path_factory.mktemp("demo") / "registry", commits=400, seed=3)


@pytest.mark.parametrize(("use_index", "split"), [(True, False), (False, False), (False, True)],
                         ids=["index", "git", "git-two-walks"])
def test_every_batch_matches_ground_truth(demo_repo: demo.DemoInfo, use_index: bool,
                                          split: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """git-two-walks: the cold walk split at a midpoint (scan.walk_split), which needs a
    commit-graph; the two walks' records must give the same members in the same order."""
    walks: list[tuple[str, ...]] = []
    if split:
        subprocess.run(["git", "commit-graph", "write", "--reachable"], cwd=demo_repo.path,
                       check=True, capture_output=True)
        monkeypatch.setattr(scan, "SPLIT_WALK_MIN", 1)
        monkeypatch.setattr(gitcli, "_tracers", [walks.append])
    ctx = load_context(str(demo_repo.path), None, None, {})
    if use_index:
        listed = {s.batch_id: s for s in lookup.list_batches(ctx)}
        assert set(listed) == {b.batch_id for b in demo_repo.batches}
    for batch in demo_repo.batches:
        r = lookup.show(ctx, batch.batch_id, use_index=use_index)
        assert tuple(m.commit.oid for m in r.members) == batch.commits, batch.batch_id
        assert {m.source for m in r.members} == {SOURCE_OF_FORM[batch.form]}, batch.batch_id
        assert r.files.added == tuple(sorted(batch.added)), batch.batch_id
        assert r.files.modified == tuple(sorted(batch.modified)), batch.batch_id
        assert r.files.deleted == tuple(sorted(batch.deleted)), batch.batch_id
        assert r.outside == tuple(sorted(batch.outside)), batch.batch_id
        assert {e.path for e in r.later_edits} == set(batch.later_edited), batch.batch_id
        if batch.form != "legacy":
            assert r.ecosystems == (batch.ecosystem,), batch.batch_id
        assert r.state == "merged"
        if use_index:
            assert listed[batch.batch_id].commits == len(batch.commits)
    if split:
        greps = [argv for argv in walks if argv[1:3] == ("log", "--topo-order")
                 and "--fixed-strings" in argv]
        assert len(greps) == 2 * len(demo_repo.batches)
        assert all(argv[-2].startswith("^") for argv in greps[::2])


def test_inflight_refs_are_not_members(demo_repo: demo.DemoInfo) -> None:
    ctx = load_context(str(demo_repo.path), None, None, {})
    known = {s.batch_id for s in lookup.list_batches(ctx)}
    pending = [ref.rsplit("/", 1)[-1] for ref in demo_repo.inflight if ref.startswith(
        "refs/heads/batch/")]
    assert pending and not set(pending) & known


def test_bare_demo(tmp_path: Path) -> None:
    info = demo.generate(tmp_path / "bare.git", commits=80, seed=1, bare=True)
    ctx = load_context(str(info.path), None, None, {})
    assert {s.batch_id for s in lookup.list_batches(ctx)} == {b.batch_id for b in info.batches}


def test_no_split_when_git_is_told_not_to_read_the_graph(demo_repo: demo.DemoInfo,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "commit-graph", "write", "--reachable"], cwd=demo_repo.path,
                   check=True, capture_output=True)
    monkeypatch.setattr(scan, "SPLIT_WALK_MIN", 1)
    info = load_context(str(demo_repo.path), None, None, {}).repo
    tip = gitcli.resolve_commit(demo_repo.path, "main")
    assert tip is not None
    mid = scan.walk_split(info, tip)
    assert mid is not None and gitcli.is_ancestor(demo_repo.path, mid, tip) and mid != tip
    subprocess.run(["git", "config", "core.commitGraph", "false"], cwd=demo_repo.path, check=True)
    try:
        assert scan.walk_split(info, tip) is None
    finally:
        subprocess.run(["git", "config", "--unset", "core.commitGraph"], cwd=demo_repo.path,
                       check=True)
    monkeypatch.setattr(scan, "SPLIT_WALK_MIN", 10**9)
    assert scan.walk_split(info, tip) is None
