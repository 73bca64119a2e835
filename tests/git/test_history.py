"""Batch membership, show/list reports, and the index on real repositories."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.context import Context, load_context
from gitops.errors import RepositoryError, UnknownBatch, UsageError
from gitops.history import index as index_mod
from gitops.history import query
from gitops.history.report import BatchReport
from tests.conftest import Repo, git

B1 = "2026-03-03-001"
B2 = "2026-03-04-001"


def ctx_of(repo: Repo | Path, **env: str) -> Context:
    path = repo.path if isinstance(repo, Repo) else repo
    return load_context(str(path), None, None, env)


def bot(subject: str, batch_id: str, eco: str = "homebrew") -> str:
    return f"{subject}\n\nGenerated.\n\nBatch-Id: {batch_id}\nBatch-Ecosystem: {eco}\n"


def both_paths(repo: Repo | Path, batch_id: str) -> BatchReport:
    """show through the index and straight from git must agree; return the report."""
    query.list_batches(ctx_of(repo))  # show alone never builds the index; list does
    warm = query.show(ctx_of(repo), batch_id)
    cold = query.show(ctx_of(repo), batch_id, use_index=False)
    assert [m.commit.oid for m in warm.members] == [m.commit.oid for m in cold.members]
    assert [(m.source, m.detail) for m in warm.members] == [
        (m.source, m.detail) for m in cold.members
    ]
    assert warm.files == cold.files
    assert warm.outside == cold.outside
    assert warm.state == cold.state
    assert {(e.path, e.commit.oid) for e in warm.later_edits} == {
        (e.path, e.commit.oid) for e in cold.later_edits
    }
    assert warm.ecosystems == cold.ecosystems
    return warm


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit("add foo\n", {"recipes/f/foo.toml": "name = 'foo'\n"})
    repo.commit(bot("batch part 1", B1), {
        "recipes/a/alpha.toml": "name = 'alpha'\n",
        "recipes/f/foo.toml": "name = 'foo'\nversion = 2\n",
        "batch-control.json": "{}\n",
        "data/metrics/m.json": "{}\n",
    })
    repo.commit("human fix\n", {"recipes/z/zed.toml": "name = 'zed'\n"}, author="Hu Man <h@x>")
    repo.commit(bot("batch part 2", B1), {"recipes/b/beta.toml": "name = 'beta'\n",
                                          "recipes/f/foo.toml": None})
    repo.commit("human edits alpha\n", {"recipes/a/alpha.toml": "name = 'alpha'\nfix = 1\n"})
    repo.commit(bot("other batch", B2, "cargo"), {"recipes/c/gamma.toml": "name = 'gamma'\n"})
    return repo


def test_trailer_batch_spanning_commits_with_interleaved_human_commits(registry: Repo) -> None:
    r = both_paths(registry, B1)
    assert [m.commit.subject for m in r.members] == ["batch part 1", "batch part 2"]
    assert {m.source for m in r.members} == {"trailer"}
    assert r.files.added == ("recipes/a/alpha.toml", "recipes/b/beta.toml")
    assert r.files.deleted == ("recipes/f/foo.toml",)
    assert r.files.modified == ()
    assert r.outside == ("batch-control.json", "data/metrics/m.json")
    assert [(e.path, e.commit.subject) for e in r.later_edits] == [
        ("recipes/a/alpha.toml", "human edits alpha")
    ]
    assert r.ecosystems == ("homebrew",)
    assert r.state == "merged"


def test_exact_ids_no_prefix_match(registry: Repo) -> None:
    registry.commit("mentions 2026-03-03 in prose\n\nBatch-Id: 2026-03-03\n",
                    {"recipes/p/p.toml": "x\n"})
    registry.commit(bot("longer id", "2026-03-03-0011"), {"recipes/q/q.toml": "x\n"})
    r = both_paths(registry, B1)
    assert len(r.members) == 2
    with pytest.raises(UsageError):
        query.show(ctx_of(registry), "2026-03-03")


def test_legacy_form_and_prose_line(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit("bot: add recipes\n\nsome text\n\nbatch_id: 2026-03-03-001\n",
                {"recipes/l/legacy.toml": "x\n"})
    repo.commit("human\n\nbatch_id: 2026-03-03-001 (see discussion)\n",
                {"recipes/l/legacy.toml": "y\n"})
    r = both_paths(repo, B1)
    assert [(m.source, m.detail) for m in r.members] == [("legacy", "batch_id")]
    assert [e.commit.subject for e in r.later_edits] == ["human"]


def test_squash_merge_found_through_pull_request_ref(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    fork = repo.head()
    repo.git("checkout", "-q", "-b", "pr")
    repo.commit(bot("pr commit 1", B1), {"recipes/s/sq.toml": "a\n"})
    repo.commit("fix-up without trailer\n", {"recipes/s/sq.toml": "b\n"})
    pr_head = repo.head()
    repo.git("checkout", "-q", "main")
    repo.commit("unrelated\n", {"README": "x\n"})
    repo.git("merge", "-q", "--squash", "pr")
    repo.commit("Add recipes (#17)\n")
    repo.git("update-ref", "refs/pull/17/head", pr_head)
    repo.git("branch", "-q", "-D", "pr")
    query.list_batches(ctx_of(repo))
    r = query.show(ctx_of(repo), B1)
    assert [(m.source, m.detail) for m in r.members] == [("pull-request", "#17")]
    assert r.files.added == ("recipes/s/sq.toml",)
    assert r.ecosystems == ("homebrew",)
    assert r.carriers == ("refs/pull/17/head",)
    assert fork  # the PR was based on an older main
    # straight from git it cannot be attributed file by file: --no-index says so, and a
    # plain show without an index builds it once
    with pytest.raises(UsageError, match="in-flight refs"):
        query.show(ctx_of(repo), B1, use_index=False)
    for index in (repo.path / ".git" / "git-batch").glob("index-*.sqlite"):
        index.unlink()
    assert query.show(ctx_of(repo), B1).members == r.members


def test_unmerged_branch_commits_are_not_members(registry: Repo) -> None:
    registry.git("checkout", "-q", "-b", "inflight")
    registry.commit(bot("in flight", B1), {"recipes/i/i.toml": "x\n"})
    registry.git("checkout", "-q", "main")
    query.list_batches(ctx_of(registry))
    r = query.show(ctx_of(registry), B1)
    assert "in flight" not in [m.commit.subject for m in r.members]
    assert r.carriers == ("refs/heads/inflight",) and r.unlanded == ("recipes/i/i.toml",)


def test_merge_commit_changes_against_first_parent(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side human\n", {"recipes/h/human.toml": "x\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main work\n", {"recipes/m/main.toml": "x\n"})
    repo.git("merge", "-q", "--no-ff", "side", "-m", f"merge side\n\nBatch-Id: {B1}\n")
    r = both_paths(repo, B1)
    assert len(r.members) == 1
    assert r.files.added == ("recipes/h/human.toml",)


def test_revert_state_reverted_partly_and_reapplied(registry: Repo) -> None:
    registry.commit(f"Revert batch {B1}\n\nReverts-Batch: {B1}\n",
                    {"recipes/b/beta.toml": None})
    assert both_paths(registry, B1).state == "partly-reverted"
    registry.commit(f"Revert batch {B1}\n\nReverts-Batch: {B1}\n",
                    {"recipes/a/alpha.toml": None, "recipes/f/foo.toml": "name = 'foo'\n"})
    assert both_paths(registry, B1).state == "reverted"
    registry.commit(f"Reapply batch {B1}\n\nReapplies-Batch: {B1}\n",
                    {"recipes/a/alpha.toml": "name = 'alpha'\n"})
    assert both_paths(registry, B1).state == "reapplied"


def test_list_summaries(registry: Repo) -> None:
    rows = query.list_batches(ctx_of(registry))
    assert [(s.batch_id, s.commits, s.managed_files, s.ecosystems, s.sources) for s in rows] == [
        (B1, 2, 3, ("homebrew",), ("trailer",)),
        (B2, 1, 1, ("cargo",), ("trailer",)),
    ]


def test_unknown_id_suggests_nearest(registry: Repo) -> None:
    query.list_batches(ctx_of(registry))
    with pytest.raises(UnknownBatch) as exc:
        query.show(ctx_of(registry), "2026-03-03-002")
    assert B1 in (exc.value.hint or "")


def test_index_incremental_update(registry: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    query.list_batches(ctx_of(registry))

    def no_rebuild(*_args: object, **_kw: object) -> None:
        raise AssertionError("an append must update the index in place, not rebuild it")

    monkeypatch.setattr(index_mod, "build_full", no_rebuild)
    registry.commit(bot("batch part 3", B1), {"recipes/d/delta.toml": "x\n",
                                              "recipes/a/alpha.toml": "again\n"})
    registry.commit("human touches delta\n", {"recipes/d/delta.toml": "y\n"})
    warm = query.show(ctx_of(registry), B1)
    assert len(warm.members) == 3
    assert "recipes/d/delta.toml" in warm.files.added
    assert ("recipes/d/delta.toml", "human touches delta") in {
        (e.path, e.commit.subject) for e in warm.later_edits
    }
    monkeypatch.undo()
    both_paths(registry, B1)
    info = query.build_index(ctx_of(registry), rebuild=False)  # appended count
    assert info["commits"] == int(registry.git("rev-list", "--count", "main"))


def test_incremental_update_over_a_merge_and_a_long_gap(registry: Repo,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """New commits past several read-ahead rounds (128, then 256 lines) and a merge of a branch
    cut before the indexed tip: the update appends exactly the commits a full build holds."""
    query.list_batches(ctx_of(registry))
    old = registry.head()
    registry.git("checkout", "-q", "-b", "side", "HEAD~1")
    side = "2026-03-05-001"
    registry.commit(bot("side batch", side, "cargo"), {"recipes/s/side.toml": "s\n"})
    registry.git("checkout", "-q", "main")
    parts = [f"commit refs/heads/main\ncommitter A <a@x> {1700000000 + i} +0000\ndata 5\nedit\n"
             + (f"from {old}\n" if i == 0 else "")
             + f"M 100644 inline recipes/g/gap.toml\ndata {len(str(i)) + 1}\n{i}\n"
             for i in range(300)]
    registry.git("fast-import", "--quiet", stdin="".join(parts))
    registry.git("reset", "-q", "--hard")  # fast-import moved main under the work tree
    registry.git("merge", "-q", "--no-edit", "side")

    def no_rebuild(*_args: object, **_kw: object) -> None:
        raise AssertionError("an append must update the index in place, not rebuild it")

    monkeypatch.setattr(index_mod, "build_full", no_rebuild)
    appended = query.build_index(ctx_of(registry), rebuild=False)
    monkeypatch.undo()
    assert appended["commits"] == int(registry.git("rev-list", "--count", "main"))
    incremental = query.list_batches(ctx_of(registry))
    assert side in [b.batch_id for b in incremental]  # from the merged side branch
    rebuilt = query.build_index(ctx_of(registry), rebuild=True)
    assert rebuilt["commits"] == appended["commits"]
    assert query.list_batches(ctx_of(registry)) == incremental
    assert len(both_paths(registry, side).members) == 1


def test_index_rebuilds_after_rewrite(registry: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    query.list_batches(ctx_of(registry))
    registry.git("reset", "-q", "--hard", "HEAD~1")
    registry.commit("rewritten\n", {"recipes/r/r.toml": "x\n"})
    assert B2 not in [s.batch_id for s in query.list_batches(ctx_of(registry))]
    assert "rebuilding" in capsys.readouterr().err
    with pytest.raises(UnknownBatch):
        query.show(ctx_of(registry), B2)


def test_show_never_builds_a_missing_index(registry: Repo) -> None:
    ctx = ctx_of(registry)
    assert len(query.show(ctx, B1).members) == 2
    assert not index_mod.index_path(ctx.repo.common_dir, "refs/heads/main").exists()


@pytest.mark.parametrize("garbage", [b"not a database at all", b""])
def test_corrupt_or_foreign_index_is_rebuilt(registry: Repo, garbage: bytes) -> None:
    ctx = ctx_of(registry)
    query.list_batches(ctx)
    path = index_mod.index_path(ctx.repo.common_dir, "refs/heads/main")
    path.write_bytes(garbage * 100)
    assert len(query.show(ctx_of(registry), B1).members) == 2  # cold path meanwhile
    assert len(query.list_batches(ctx_of(registry))) == 2
    assert index_mod.Index.open(path) is not None
    foreign = sqlite3.connect(path)
    foreign.execute("PRAGMA application_id=1")
    foreign.close()
    assert index_mod.Index.open(path) is None
    assert len(query.list_batches(ctx_of(registry))) == 2
    assert index_mod.Index.open(path) is not None


def test_index_with_other_settings_is_rebuilt(registry: Repo, tmp_path: Path) -> None:
    query.list_batches(ctx_of(registry))
    cfg = tmp_path / "other.toml"
    cfg.write_text('[batch]\ntrailer_key = "Run-Id"\n')
    ctx = load_context(str(registry.path), str(cfg), None, {})
    with pytest.raises(UnknownBatch):
        query.show(ctx, B1)


def test_bare_repository(registry: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(bare))
    r = both_paths(bare, B1)
    assert len(r.members) == 2


def test_shallow_clone_refused(registry: Repo, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{registry.path}", str(shallow))
    with pytest.raises(RepositoryError, match="shallow"):
        query.show(ctx_of(shallow), B1)


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RepositoryError, match="not a git repository"):
        ctx_of(plain)


def test_missing_base_branch(registry: Repo) -> None:
    ctx = load_context(str(registry.path), None, "no-such-branch", {})
    with pytest.raises(RepositoryError, match="no-such-branch"):
        query.show(ctx, B1)


def test_base_defaults_to_origin_head(registry: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registry.path), str(clone))
    git(clone, "checkout", "-q", "-b", "work", "HEAD~3")
    r = query.show(ctx_of(clone), B2)  # only on origin/main, not on the checked-out branch
    assert len(r.members) == 1


def _open_pr(repo: Repo, number: int, batch_id: str) -> str:
    repo.git("checkout", "-q", "-b", f"pr{number}")
    repo.commit(bot(f"pr {number}", batch_id), {f"recipes/p/pr{number}.toml": "a\n"})
    head = repo.head()
    repo.git("checkout", "-q", "main")
    repo.git("update-ref", f"refs/pull/{number}/head", head)
    return head


def _squash(repo: Repo, number: int) -> None:
    repo.git("merge", "-q", "--squash", f"pr{number}")
    repo.commit(f"Squashed work (#{number})\n")


def test_squash_landing_after_index_updates_incrementally(
    make_repo: Callable[..., Repo], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    _open_pr(repo, 5, B1)
    assert query.list_batches(ctx_of(repo)) == []  # open pull request: in flight, no member

    def no_rebuild(*_args: object, **_kw: object) -> None:
        raise AssertionError("must update incrementally")

    monkeypatch.setattr(index_mod, "build_full", no_rebuild)
    _squash(repo, 5)
    rows = query.list_batches(ctx_of(repo))
    assert [(s.batch_id, s.sources) for s in rows] == [(B1, ("pull-request",))]


def test_pull_ref_fetched_after_index_is_picked_up(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    head = _open_pr(repo, 6, B1)
    repo.git("update-ref", "-d", "refs/pull/6/head")
    _squash(repo, 6)
    # the pull request's branch still carries the batch commit: a landing by content
    assert [s.sources for s in query.list_batches(ctx_of(repo))] == [("content",)]
    repo.git("branch", "-q", "-D", "pr6")
    assert query.list_batches(ctx_of(repo)) == []  # nothing carries the batch any more
    repo.git("update-ref", "refs/pull/6/head", head)
    assert [(s.batch_id, s.sources) for s in query.list_batches(ctx_of(repo))] == [
        (B1, ("pull-request",))]
    assert [m.detail for m in query.show(ctx_of(repo), B1).members] == ["#6"]
