"""History against the demo generator's ground truth, through the index and straight from git."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import demo
from gitops.context import load_context
from gitops.errors import UsageError
from gitops.history import query

SOURCE_OF_FORM = {"trailer": "trailer", "legacy": "legacy", "pull-request": "pull-request",
                  "merge": "trailer"}


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoInfo:
    return demo.generate(tmp_path_factory.mktemp("demo") / "registry", commits=400, seed=3)


@pytest.mark.parametrize("use_index", [True, False], ids=["index", "git"])
def test_every_batch_matches_ground_truth(demo_repo: demo.DemoInfo, use_index: bool) -> None:
    ctx = load_context(str(demo_repo.path), None, None, {})
    if use_index:
        listed = {s.batch_id: s for s in query.list_batches(ctx)}
        assert set(listed) == {b.batch_id for b in demo_repo.batches}
    for batch in demo_repo.batches:
        if not use_index and batch.form == "pull-request":
            # attributed file by file from the pull request ref: the index's job
            with pytest.raises(UsageError, match="in-flight refs"):
                query.show(ctx, batch.batch_id, use_index=False)
            continue
        r = query.show(ctx, batch.batch_id, use_index=use_index)
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


def test_inflight_refs_are_not_members(demo_repo: demo.DemoInfo) -> None:
    ctx = load_context(str(demo_repo.path), None, None, {})
    known = {s.batch_id for s in query.list_batches(ctx)}
    pending = [ref.rsplit("/", 1)[-1] for ref in demo_repo.inflight if ref.startswith(
        "refs/heads/batch/")]
    assert pending and not set(pending) & known


def test_bare_demo(tmp_path: Path) -> None:
    info = demo.generate(tmp_path / "bare.git", commits=80, seed=1, bare=True)
    ctx = load_context(str(info.path), None, None, {})
    assert {s.batch_id for s in query.list_batches(ctx)} == {b.batch_id for b in info.batches}
