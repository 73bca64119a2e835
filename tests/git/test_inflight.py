"""In-flight radar on real repositories (issue 4): verdicts, ref selection, pre-filter, stale."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops import demo
from gitops.cli import main, render_inflight
from gitops.context import Context, load_context
from gitops.errors import ConfigError, RepositoryError, UsageError
from gitops.git import plumbing
from gitops.git.plumbing import MergeMessage, MergeResult, RefTip
from gitops.git.process import Oid
from gitops.revert import apply, inflight
from tests.conftest import Repo, git

B = "2026-03-03-001"
ROOT = Path(__file__).resolve().parents[2]


def bot(subject: str, batch_id: str = B) -> str:
    return f"{subject}\n\nBatch-Id: {batch_id}\n"


def recipe(name: str, deps: tuple[str, ...] = (), *, version: str = "1.0", extra: str = "") -> str:
    listed = ", ".join(f'"{d}"' for d in deps)
    return (f'[metadata]\nname = "{name}"\nversion = "{version}"\n'
            f"dependencies = [{listed}]\n{extra}")


def context(path: Path, environ: dict[str, str] | None = None) -> Context:
    return load_context(str(path), None, None, environ or {})


def check(repo: Repo | Path, batch_id: str | None = B, **kw: object) -> inflight.Report:
    path = repo.path if isinstance(repo, Repo) else repo
    return inflight.check(context(path), batch_id=batch_id, **kw)  # type: ignore[arg-type]


def by_ref(report: inflight.Report) -> dict[str, inflight.Verdict]:
    return {ref: v for v in report.verdicts for ref in v.refs}


def branch(repo: Repo, name: str, start: str, files: dict[str, str | None],
           message: str = "work\n") -> str:
    """Commit files on a new branch name from start, then go back to main."""
    repo.git("checkout", "-q", "-b", name, start)
    tip = repo.commit(message, files)
    repo.git("checkout", "-q", "main")
    return tip


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    """main: base recipes, a two-commit batch B (adds alpha and beta, bumps curl, deletes old),
    a human commit. The tag `before` marks main before the batch."""
    repo = make_repo()
    repo.commit("base recipes\n", {
        "recipes/z/zlib.toml": recipe("zlib"),
        "recipes/c/curl.toml": recipe("curl", ("zlib",)),
        "recipes/o/old.toml": recipe("old"),
        "recipes/k/keep.toml": recipe("keep", extra="[extra]\nnote = 'k'\n"),
    })
    repo.git("tag", "before")
    repo.commit(bot("batch 1/2"), {
        "recipes/a/alpha.toml": recipe("alpha", ("zlib",), extra='aliases = ["alpha-cli"]\n'),
        "recipes/c/curl.toml": recipe("curl", ("zlib",), version="2.0"),
        "batch-control.json": '{"run": 1}\n',
    })
    repo.commit(bot("batch 2/2"), {"recipes/b/beta.toml": recipe("beta", ("alpha",)),
                                   "recipes/o/old.toml": None})
    repo.commit("human: docs\n", {"docs/x.md": "x\n"}, author="Ana <ana@x>")
    return repo


# -- each verdict --------------------------------------------------------------------------------


def test_each_verdict_on_its_own_branch(registry: Repo) -> None:
    r = registry
    branch(r, "same", "main", {"recipes/g/gamma.toml": recipe("gamma")}, bot("leftover"))
    branch(r, "edit-alpha", "main", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",),
                                                                     extra="#\n")})
    branch(r, "needs-alpha", "main", {"recipes/d/delta.toml": recipe("delta", ("alpha-cli",))})
    branch(r, "bad-toml", "main", {"recipes/e/eps.toml": '[metadata]\nname = "eps\n'})
    branch(r, "curl-top", "main", {"recipes/c/curl.toml": recipe("curl", ("zlib",), version="2.0",
                                                                   extra="# reviewed\n")})
    branch(r, "docs", "main", {"docs/y.md": "y\n"})
    branch(r, "add-nu", "main", {"recipes/n/nu.toml": recipe("nu")})
    branch(r, "add-nu-too", "main", {"recipes/n/nu.toml": recipe("nu", version="2")})
    report = check(r)
    got = {ref.removeprefix("refs/heads/"): v.verdict for ref, v in by_ref(report).items()}
    assert got == {
        "same": inflight.SAME_BATCH,
        "edit-alpha": inflight.CONFLICT,
        "needs-alpha": inflight.DEPENDENCY_BREAK,
        "bad-toml": inflight.UNREADABLE,
        "add-nu": inflight.DUPLICATE,
        "add-nu-too": inflight.DUPLICATE,
        "curl-top": inflight.TOUCHES,
        "docs": inflight.CLEAN,
    }
    rows = by_ref(report)
    assert rows["refs/heads/same"].batch_ids == (B,)
    assert rows["refs/heads/edit-alpha"].conflicts == (
        inflight.Conflict("recipes/a/alpha.toml", "modify/delete"),)
    assert rows["refs/heads/needs-alpha"].breaks == (
        inflight.Break("recipes/d/delta.toml", "delta", "alpha-cli"),)
    bad = rows["refs/heads/bad-toml"].unreadable
    assert [(u.path, u.line) for u in bad] == [("recipes/e/eps.toml", 2)]
    assert rows["refs/heads/curl-top"].batch_files == ("recipes/c/curl.toml",)
    # the table is ordered most severe first, each verdict carries its one-line hint
    assert list(dict.fromkeys(v.verdict for v in report.verdicts)) == list(inflight.VERDICTS)
    assert rows["refs/heads/add-nu"].duplicates == (
        inflight.Duplicate("recipes/n/nu.toml", ("refs/heads/add-nu-too",)),)
    assert all(v.hint == inflight.HINTS[v.verdict] for v in report.verdicts)
    assert {v.verdict for v in report.blocking} == inflight.BLOCKING
    assert set(report.subject.removed_names) == {"alpha", "alpha-cli", "beta"}


def test_conflict_kinds_caused_by_the_revert(registry: Repo) -> None:
    r = registry
    # content: the revert restores curl 1.0 where the branch sets 3.0 on the same line
    branch(r, "content", "main", {"recipes/c/curl.toml": recipe("curl", ("zlib",), version="3.0")})
    # add/add: the revert re-creates old.toml (the batch deleted it); the branch adds its own
    branch(r, "addadd", "main", {"recipes/o/old.toml": recipe("old", version="9")})
    # modify/delete: the branch edits beta, which the revert deletes
    branch(r, "moddel", "main", {"recipes/b/beta.toml": recipe("beta", ("alpha",), version="2")})
    rows = by_ref(check(r))
    assert rows["refs/heads/content"].conflicts == (
        inflight.Conflict("recipes/c/curl.toml", "content"),)
    assert rows["refs/heads/addadd"].conflicts == (
        inflight.Conflict("recipes/o/old.toml", "add/add"),)
    assert rows["refs/heads/moddel"].conflicts == (
        inflight.Conflict("recipes/b/beta.toml", "modify/delete"),)
    assert all(not v.pre_existing and v.after_merged for v in rows.values())


def test_pre_existing_conflicts_are_reported_apart(registry: Repo) -> None:
    r = registry
    # a branch cut before the batch that also bumps curl: it conflicts with the base already
    branch(r, "old-curl", "before", {"recipes/c/curl.toml": recipe("curl", ("zlib",),
                                                                    version="1.5")})
    # the same, plus an edit of keep.toml that main edits too, plus a revert-caused conflict
    branch(r, "both", "main", {"recipes/k/keep.toml": recipe("keep", extra="[extra]\nnote='b'\n"),
                               "recipes/a/alpha.toml": "# taken over\n"})
    r.commit("human: keep\n", {"recipes/k/keep.toml": recipe("keep", extra="[extra]\nnote='m'\n")})
    rows = by_ref(check(r))
    old = rows["refs/heads/old-curl"]
    # after the revert curl is back at 1.0 (the branch's merge base): the branch's change merges
    assert old.pre_existing == (inflight.Conflict("recipes/c/curl.toml", "content"),)
    assert old.conflicts == ()
    assert old.verdict == inflight.TOUCHES
    both = rows["refs/heads/both"]
    assert both.verdict == inflight.CONFLICT
    assert both.conflicts == (inflight.Conflict("recipes/a/alpha.toml", "modify/delete"),)
    assert both.pre_existing == (inflight.Conflict("recipes/k/keep.toml", "content"),)


def test_pre_existing_modify_delete_and_add_add(registry: Repo) -> None:
    r = registry
    branch(r, "edits-doc", "main", {"docs/x.md": "x, edited\n"})
    branch(r, "adds-new", "main", {"recipes/n/new.toml": recipe("new", version="b")})
    r.commit("human: drop the doc, add new\n", {"docs/x.md": None,
                                                "recipes/n/new.toml": recipe("new", version="m")})
    rows = by_ref(check(r))
    assert rows["refs/heads/edits-doc"].pre_existing == (
        inflight.Conflict("docs/x.md", "modify/delete"),)
    assert rows["refs/heads/adds-new"].pre_existing == (
        inflight.Conflict("recipes/n/new.toml", "add/add"),)
    assert {v.verdict for v in rows.values()} == {inflight.CLEAN}


def test_rename_on_the_revert_side_moves_a_branch_edit(registry: Repo) -> None:
    """git pairs the base's deletion of zlib.toml with the revert's re-creation of the similar
    old.toml (a rename), so the branch's edit of zlib.toml lands in old.toml and conflicts
    there: only because of the apply. This is why the pre-filter looks at what the base
    changed since the branch was cut, not only at the revert's paths."""
    r = registry
    branch(r, "edits-zlib", "main", {"recipes/z/zlib.toml": recipe("zlib", version="2")})
    r.commit("human: drop zlib\n", {"recipes/z/zlib.toml": None})
    (row,) = check(r).verdicts
    assert row.pre_existing == (inflight.Conflict("recipes/z/zlib.toml", "modify/delete"),)
    assert row.conflicts == (inflight.Conflict("recipes/o/old.toml", "content"),)
    assert row.verdict == inflight.CONFLICT and row.after_merged


def test_dependency_on_a_name_still_provided_is_fine(registry: Repo) -> None:
    r = registry
    r.commit("human: provide alpha too\n", {
        "recipes/a/alpha2.toml": recipe("alpha2", extra='aliases = ["alpha"]\n')})
    branch(r, "needs-alpha", "main", {"recipes/d/delta.toml": recipe("delta", ("alpha",))})
    branch(r, "self-provided", "main", {
        "recipes/d/d2.toml": recipe("d2", ("beta",)),
        "recipes/b/beta2.toml": recipe("beta2", extra='aliases = ["beta"]\n')})
    rows = by_ref(check(r))
    assert rows["refs/heads/needs-alpha"].verdict == inflight.CLEAN
    assert rows["refs/heads/self-provided"].verdict == inflight.CLEAN


# -- which refs ----------------------------------------------------------------------------------


def test_duplicate_refs_one_row_with_every_name(registry: Repo) -> None:
    tip = branch(registry, "feature", "main", {"recipes/a/alpha.toml": "# mine\n"})
    registry.git("update-ref", "refs/remotes/origin/feature", tip)
    registry.git("update-ref", "refs/pull/7/head", tip)
    report = check(registry)
    assert len(report.verdicts) == 1
    (row,) = report.verdicts
    assert row.refs == ("refs/heads/feature", "refs/remotes/origin/feature", "refs/pull/7/head")
    assert row.tip == tip and row.verdict == inflight.CONFLICT


def test_merged_branches_symbolic_refs_and_ops_branch_left_out(registry: Repo) -> None:
    r = registry
    branch(r, "merged", "main", {"docs/m.md": "m\n"})
    r.git("merge", "-q", "--no-ff", "-m", "merge", "merged")
    # a pull request squash-merged into main: its ref never becomes an ancestor
    branch(r, "pr", "main", {"docs/p.md": "p\n"})
    r.git("update-ref", "refs/pull/9/head", "pr")
    r.git("branch", "-q", "-D", "pr")
    r.commit("docs: p (#9)\n", {"docs/p.md": "p\n"})
    r.git("update-ref", "refs/remotes/origin/main", "main")
    r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    r.git("checkout", "-q", "--orphan", "batch-ops")
    r.git("rm", "-q", "-rf", ".")
    r.commit("ops\n", {"state.toml": "x = 1\n"})
    r.git("checkout", "-q", "main")
    r.git("update-ref", "refs/remotes/origin/batch-ops", "batch-ops")
    r.git("checkout", "-q", "--orphan", "pages")
    r.git("rm", "-q", "-rf", ".")
    r.commit("pages\n", {"index.html": "x\n"})
    r.git("checkout", "-q", "main")
    report = check(r)
    assert report.verdicts == ()
    reasons = {ref: s.reason for s in report.skipped for ref in s.refs}
    assert report.subject.base_ref == "refs/remotes/origin/main"  # origin/HEAD names the base
    assert reasons == {
        "refs/remotes/origin/main": "the base branch",
        "refs/heads/merged": "already merged into the base",
        "refs/heads/main": "already merged into the base",
        "refs/pull/9/head": "pull request squash-merged into the base",
        "refs/remotes/origin/HEAD": "symbolic ref",
        "refs/heads/batch-ops": "the ops branch",
        "refs/remotes/origin/batch-ops": "the ops branch",
        "refs/heads/pages": "no common history with the base",
    }


def test_pull_refs_are_checked(registry: Repo) -> None:
    tip = branch(registry, "tmp", "main", {"recipes/d/delta.toml": recipe("delta", ("beta",))})
    registry.git("update-ref", "refs/pull/12/head", tip)
    registry.git("branch", "-q", "-D", "tmp")
    (row,) = check(registry).verdicts
    assert row.refs == ("refs/pull/12/head",)
    assert row.verdict == inflight.DEPENDENCY_BREAK


def test_patterns_matching_nothing_say_so_and_exit_0(registry: Repo,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    registry.commit("config\n", {".git-batch.toml": '[repo]\ninflight_refs = ["refs/nope/*"]\n'})
    report = check(registry)
    assert report.matched == 0 and report.verdicts == ()
    assert "no refs match repo.inflight_refs (refs/nope/*)." in render_inflight.report_text(report)
    with pytest.raises(SystemExit) as done:
        main.main(["--repo", str(registry.path), "inflight", B])
    assert done.value.code == 0
    assert "no refs match" in capsys.readouterr().out


def test_patterns_star_crosses_slashes_and_bad_patterns_are_config_errors(registry: Repo) -> None:
    regex = inflight.pattern_regex(["refs/heads/*", "refs/pull/*/head"])
    assert regex.match("refs/heads/fix/deep/x") and regex.match("refs/pull/12/head")
    assert not regex.match("refs/pull/12/merge") and not regex.match("refs/tags/v1")
    assert inflight.pattern_prefixes(["refs/heads/*", "refs/pull/*/head", "refs/x"]) == [
        "refs/heads/", "refs/pull/", "refs/x"]
    registry.commit("config\n", {".git-batch.toml": '[repo]\ninflight_refs = ["heads/*"]\n'})
    with pytest.raises(ConfigError, match=r"repo\.inflight_refs"):
        check(registry)


# -- --revert-branch -----------------------------------------------------------------------------


def test_revert_branch_matches_the_plan_and_is_left_out(registry: Repo) -> None:
    r = registry
    branch(r, "edit-alpha", "main", {"recipes/a/alpha.toml": "# mine\n"})
    branch(r, "needs-beta", "main", {"recipes/d/delta.toml": recipe("delta", ("beta",))})
    branch(r, "same", "main", {"docs/s.md": "s\n"}, bot("leftover"))
    planned = check(r)
    out = apply.run(context(r.path), B, "revert", apply.Options())
    assert out.branch == f"refs/heads/batch-revert/{B}"
    r.git("update-ref", f"refs/remotes/origin/batch-revert/{B}", out.branch)
    on_branch = check(r, None, revert_branch=f"batch-revert/{B}")
    assert on_branch.subject.batch_ids == (B,) and not on_branch.subject.simulated
    assert on_branch.subject.revert == out.commit
    key = [(v.refs, v.verdict, v.conflicts, v.breaks) for v in planned.verdicts]
    assert [(v.refs, v.verdict, v.conflicts, v.breaks) for v in on_branch.verdicts] == key
    assert {"refs/heads/batch-revert/2026-03-03-001", "refs/remotes/origin/batch-revert/"
            "2026-03-03-001"} == {ref for s in on_branch.skipped for ref in s.refs
                                  if s.reason == "the revert branch"}
    # in ID mode the written revert branch is left out too
    assert "refs/heads/batch-revert/2026-03-03-001" in {
        ref for s in check(r).skipped for ref in s.refs if s.reason == "the revert branch"}
    # the base moves on: the revert branch is merged with it in memory
    r.commit("human: more docs\n", {"docs/z.md": "z\n"})
    moved = check(r, None, revert_branch=f"batch-revert/{B}")
    assert moved.subject.simulated
    assert [(v.refs, v.verdict, v.conflicts, v.breaks) for v in moved.verdicts] == key


def test_other_reverts_left_out_and_reapplies_are_same_batch(registry: Repo) -> None:
    r = registry
    apply.run(context(r.path), B, "revert", apply.Options(branch="fix/rollback"))
    report = check(r)
    assert {ref: s.reason for s in report.skipped for ref in s.refs}[
        "refs/heads/fix/rollback"] == "another revert of the batch"
    r.git("merge", "-q", "--ff-only", "fix/rollback")
    reapply = apply.run(context(r.path), B, "reapply", apply.Options())
    report = check(r)
    assert any("already reverted" in n for n in report.notes)
    (row,) = report.verdicts
    assert row.refs == (reapply.branch,) and row.verdict == inflight.SAME_BATCH


def test_unknown_revert_branch_is_a_clear_error(registry: Repo) -> None:
    with pytest.raises(RepositoryError, match="revert branch 'nope' does not exist"):
        check(registry, None, revert_branch="nope")
    with pytest.raises(UsageError):
        check(registry, None, revert_branch="--all")
    with pytest.raises(UsageError):
        check(registry, B, revert_branch="x")


def test_revert_branch_without_trailer_uses_its_files(registry: Repo) -> None:
    r = registry
    branch(r, "manual-revert", "main", {"recipes/a/alpha.toml": None, "recipes/b/beta.toml": None})
    branch(r, "edit-beta", "main", {"recipes/b/beta.toml": "# mine\n"})
    report = check(r, None, revert_branch="manual-revert")
    assert report.subject.batch_ids == ()
    assert report.subject.batch_files == ("recipes/a/alpha.toml", "recipes/b/beta.toml")
    assert any("no Reverts-Batch trailer" in n for n in report.notes)
    (row,) = report.verdicts
    assert row.verdict == inflight.CONFLICT


# -- stale batch branches ------------------------------------------------------------------------


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def commit_at(repo: Repo, name: str, start: str, when: str, message: str) -> str:
    """A commit on branch name (created from start if new) authored and committed at when."""
    exists = subprocess.run(("git", "rev-parse", "--verify", "-q", f"refs/heads/{name}"),
                            cwd=repo.path, capture_output=True).returncode == 0
    repo.git("checkout", "-q", name) if exists else repo.git("checkout", "-q", "-b", name, start)
    repo.write(f"work/{name}.txt", when)
    repo.git("add", "-A")
    git(repo.path, "commit", "-q", "-F", "-", stdin=message,
        env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    repo.git("checkout", "-q", "main")
    return repo.head(name)


def test_stale_batch_branches_oldest_first(registry: Repo) -> None:
    r = registry
    commit_at(r, "batch/old", "main", "2026-03-02T00:00:00+00:00", bot("old", "2026-03-02-001"))
    commit_at(r, "batch/old", "main", "2026-03-06T00:00:00+00:00", "follow-up\n")
    older = commit_at(r, "batch/older", "main", "2026-03-01T00:00:00+00:00",
                      "x\n\nbatch_id: 2026-02-28-009\n")
    r.git("update-ref", "refs/pull/3/head", older)
    commit_at(r, "batch/new", "main", "2026-03-06T12:00:00+00:00", bot("new", "2026-03-06-001"))
    commit_at(r, "human/old", "main", "2026-02-01T00:00:00+00:00", "not a batch\n")
    now = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    ctx = context(r.path)._replace(clock=FixedClock(now))  # type: ignore[arg-type]
    found = inflight.stale(ctx, inflight.parse_duration("72h"))
    assert [(b.refs, b.batch_ids, b.commits) for b in found.branches] == [
        (("refs/heads/batch/older", "refs/pull/3/head"), ("2026-02-28-009",), 1),
        (("refs/heads/batch/old",), ("2026-03-02-001",), 2),
    ]
    assert found.branches[0].age == 6 * 86400
    assert found.branches[1].open_since == int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    doc = render_inflight.stale_json(found)
    assert doc["limit_seconds"] == 72 * 3600 and doc["branches"][0]["open_since"] == (
        "2026-03-01T00:00:00Z")
    text = render_inflight.stale_text(found)
    assert "2 batch branches open longer than 3d." in text and "6d" in text
    assert inflight.stale(ctx, timedelta(days=30)).branches == ()


def test_parse_duration() -> None:
    assert inflight.parse_duration("72h") == timedelta(hours=72)
    assert inflight.parse_duration("3d") == timedelta(days=3)
    assert inflight.parse_duration("1d12h") == timedelta(hours=36)
    assert inflight.parse_duration(" 2W ") == timedelta(weeks=2)
    assert inflight.parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "72", "h", "3 days", "-1d", "0h", "1d x"):
        with pytest.raises(UsageError):
            inflight.parse_duration(bad)
    assert render_inflight.format_age(3 * 86400 + 7200) == "3d 2h"
    assert render_inflight.format_age(3600 * 5 + 60 * 10) == "5h 10m"
    assert render_inflight.format_age(42 * 60) == "42m"


# -- pure pieces ---------------------------------------------------------------------------------


def test_judge_precedence_and_pre_existing() -> None:
    c = inflight.Conflict
    facts = inflight.BranchFacts(("refs/heads/x",), "a" * 40, ("other",), ("f", "g"),
                                 before=(c("g", "content"),),
                                 after=(c("f", "modify/delete"), c("g", "content")))
    v = inflight.judge(facts, [B], {"f"})
    assert v.verdict == inflight.CONFLICT
    assert v.conflicts == (c("f", "modify/delete"),) and v.pre_existing == (c("g", "content"),)
    assert inflight.judge(facts._replace(batch_ids=(B,)), [B], set()).verdict == (
        inflight.SAME_BATCH)
    calm = facts._replace(after=facts.before)
    assert inflight.judge(calm, [B], {"f"}).verdict == inflight.TOUCHES
    assert inflight.judge(calm, [B], set()).verdict == inflight.CLEAN
    broken = calm._replace(breaks=(inflight.Break("f", "x", "y"),),
                     unreadable=(inflight.Unreadable("g", 1, "bad"),))
    assert inflight.judge(broken, [B], {"f"}).verdict == inflight.DEPENDENCY_BREAK
    assert inflight.judge(broken._replace(breaks=()), [B], {"f"}).verdict == inflight.UNREADABLE


def test_conflicts_of_uses_messages_then_stages() -> None:
    tree = Oid("t" * 40)
    result = MergeResult(False, tree, (("a", 1), ("a", 2), ("a", 3), ("b", 2), ("b", 3),
                                       ("c", 1), ("c", 3), ("d", 1), ("d", 2)), (
        MergeMessage(("a",), "Auto-merging", "Auto-merging a"),
        MergeMessage(("b",), "CONFLICT (contents)", "CONFLICT (add/add): Merge conflict in b"),
        MergeMessage(("e", "f"), "CONFLICT (rename/delete)", "CONFLICT (rename/delete): ..."),
        MergeMessage(("d",), "CONFLICT (modify/delete)", "..."),
    ))
    assert inflight.conflicts_of(result) == (
        inflight.Conflict("a", "content"), inflight.Conflict("b", "add/add"),
        inflight.Conflict("c", "modify/delete"), inflight.Conflict("d", "modify/delete"),
        inflight.Conflict("e", "rename/delete"))
    assert inflight.conflicts_of(MergeResult(True, tree, (), ())) == ()


def test_parse_merge_tree_output_of_real_git(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit("base\n", {"f": "a\nb\nc\n", "g": "x\n"})
    ours = branch(repo, "ours", "main", {"f": "a\nO\nc\n", "g": None, "n": "1\n"})
    theirs = branch(repo, "theirs", "main", {"f": "a\nT\nc\n", "g": "y\n", "n": "2\n"})
    clean = branch(repo, "clean", "main", {"z": "z\n"})
    results = plumbing.merge_trees(repo.path, [(ours, theirs), (ours, clean), (theirs, clean)])
    assert [r.clean for r in results] == [False, True, True]
    assert inflight.conflicts_of(results[0]) == (
        inflight.Conflict("f", "content"), inflight.Conflict("g", "modify/delete"),
        inflight.Conflict("n", "add/add"))
    assert plumbing.merge_trees(repo.path, []) == []
    with pytest.raises(ValueError, match="not a full object id"):
        plumbing.merge_trees(repo.path, [("main", ours)])


def test_select_refs_groups_and_reasons() -> None:
    a, b = Oid("a" * 40), Oid("b" * 40)
    refs = [RefTip("refs/pull/2/head", a, ""), RefTip("refs/heads/x", a, ""),
            RefTip("refs/remotes/origin/x", a, ""), RefTip("refs/heads/old", b, ""),
            RefTip("refs/remotes/origin/HEAD", a, "refs/remotes/origin/main"),
            RefTip("refs/tags/v1", a, "")]
    sel = inflight.select_refs(refs, {"refs/pull/2/head", "refs/heads/x",
                                      "refs/remotes/origin/x", "refs/remotes/origin/HEAD"},
                               inflight.pattern_regex(["refs/heads/*", "refs/remotes/*",
                                                       "refs/pull/*/head"]),
                               lambda ref: None)
    assert sel.groups == {a: ("refs/heads/x", "refs/remotes/origin/x", "refs/pull/2/head")}
    assert sel.matched == 5
    assert {s.reason: s.refs for s in sel.skipped} == {
        "already merged into the base": ("refs/heads/old",),
        "symbolic ref": ("refs/remotes/origin/HEAD",)}


# -- the demo, bare repositories, the working tree -------------------------------------------


@pytest.fixture(scope="module")
def demo_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # module scope: the autouse isolation fixture is function-scoped, so isolate by hand here
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("demo-home")
    for key in [k for k in __import__("os").environ if k.startswith("GIT_")]:
        mp.delenv(key)
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    path = tmp_path_factory.mktemp("demo") / "registry"
    demo.generate(path)
    mp.undo()
    yield path


def test_demo_verdicts_for_its_latest_batch(demo_registry: Path) -> None:
    report = check(demo_registry, "2026-01-06-006")
    rows = {v.refs: (v.verdict, v.conflicts, v.breaks) for v in report.verdicts}
    assert rows == {
        ("refs/heads/fix/mypy-build",): (
            inflight.CONFLICT, (inflight.Conflict("recipes/m/mypy.toml", "modify/delete"),), ()),
        ("refs/heads/add/pytest-cov",): (
            inflight.DEPENDENCY_BREAK, (),
            (inflight.Break("recipes/p/pytest-cov.toml", "pytest-cov", "pytest"),)),
        ("refs/heads/batch/2026-01-06-007", "refs/pull/30/head"): (inflight.CLEAN, (), ()),
    }
    skipped = {ref: s.reason for s in report.skipped for ref in s.refs}
    assert skipped["refs/heads/docs/readme-refresh"] == "already merged into the base"


def test_json_has_full_ids_and_every_skipped_ref(demo_registry: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main.main(["--repo", str(demo_registry), "inflight", "2026-01-06-006", "--json"])
    assert done.value.code == 16
    doc = json.loads(capsys.readouterr().out)
    assert doc["blocking"] == 2 and doc["summary"] == {"conflict": 1, "dependency-break": 1,
                                                       "clean": 1}
    assert all(len(b["tip"]) == 40 for b in doc["branches"])
    assert len(doc["revert"]["commit"]) == 40 and doc["revert"]["simulated"] is True
    assert {"refs/heads/docs/readme-refresh", "refs/heads/main"} <= {
        ref for s in doc["skipped"] for ref in s["refs"]}


def test_cli_arguments(demo_registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["inflight"], ["inflight", B, "--stale", "3d"], ["inflight", "--stale", "x"]):
        with pytest.raises(SystemExit) as done:
            main.main(["--repo", str(demo_registry), *argv])
        assert done.value.code == 2, argv
    with pytest.raises(SystemExit) as done:
        main.main(["--repo", str(demo_registry), "inflight", "--stale", "1000w"])
    assert done.value.code == 0
    assert "none." in capsys.readouterr().out


def test_bare_repository(registry: Repo, tmp_path: Path) -> None:
    branch(registry, "edit-alpha", "main", {"recipes/a/alpha.toml": "# mine\n"})
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(bare))
    report = check(bare)
    (row,) = report.verdicts
    assert row.refs == ("refs/heads/edit-alpha",) and row.verdict == inflight.CONFLICT


def test_working_tree_index_and_refs_untouched(registry: Repo) -> None:
    r = registry
    branch(r, "edit-alpha", "main", {"recipes/a/alpha.toml": "# mine\n"})
    r.write("docs/x.md", "uncommitted edit\n")
    r.write("untracked.txt", "u\n")
    r.git("add", "docs/x.md")
    before = (r.git("status", "--porcelain=v2", "--branch"), r.git("for-each-ref"),
              (r.path / ".git" / "index").read_bytes(), r.git("stash", "list"))
    check(r)
    check(r, None, revert_branch="edit-alpha")
    after = (r.git("status", "--porcelain=v2", "--branch"), r.git("for-each-ref"),
             (r.path / ".git" / "index").read_bytes(), r.git("stash", "list"))
    assert after == before


# -- the pre-filter equals running every merge ---------------------------------------------------


class _History:
    """A seeded random registry written with one fast-import stream: renames, directory moves,
    deletions, a batch on main, branches cut anywhere (before, inside, after the batch) that
    merge main and are merged into main (criss-cross merge bases)."""

    KEYS = ("name", "version", "url", "sha", "note")
    DIRS = ("recipes/a", "recipes/b", "recipes/c", "recipes/d/x", "docs")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data
        self.parts: list[bytes] = []
        self.states: dict[int, dict[str, tuple[str, ...]]] = {}
        self.parent: dict[int, list[int]] = {}
        self.mark = 0
        self.when = 1767225600

    def content(self) -> tuple[str, ...]:
        return tuple(f'{k} = "{self.rng.choice("pqrstuvw")}{self.rng.randrange(3)}"'
                     for k in self.KEYS)

    def path(self) -> str:
        return f"{self.rng.choice(self.DIRS)}/f{self.rng.randrange(6)}.toml"

    def mutate(self, state: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        new = dict(state)
        for _ in range(self.rng.randint(1, 3)):
            op = self.rng.choice(("edit", "edit", "add", "delete", "rename", "rename", "dirmove"))
            files = sorted(new)
            if op == "edit" and files:
                p = self.rng.choice(files)
                lines = list(new[p])
                lines[self.rng.randrange(len(lines))] = f'{self.KEYS[0]}x = "{self.rng.random()}"'
                new[p] = tuple(lines)
            elif op == "delete" and files:
                del new[self.rng.choice(files)]
            elif op == "rename" and files:
                src = self.rng.choice(files)
                lines = list(new.pop(src))
                if self.rng.random() < 0.5:
                    lines[-1] = f'note = "moved {self.rng.random()}"'
                new[self.path()] = tuple(lines)
            elif op == "dirmove" and files:
                src = self.rng.choice(files).rsplit("/", 1)[0]
                dst = self.rng.choice([d for d in (*self.DIRS, "recipes/e") if d != src])
                for p in [p for p in files if p.rsplit("/", 1)[0] == src]:
                    new[f"{dst}/{p.rsplit('/', 1)[1]}"] = new.pop(p)
            else:
                new[self.path()] = self.content()
        return new

    def commit(self, ref: str, parents: list[int], state: dict[str, tuple[str, ...]],
               message: str) -> int:
        self.mark += 1
        self.when += 60
        self.states[self.mark] = state
        self.parent[self.mark] = parents
        head = (f"commit {ref}\nmark :{self.mark}\n"
                f"author A <a@x> {self.when} +0000\ncommitter A <a@x> {self.when} +0000\n"
                f"data {len(message.encode())}\n{message}\n")
        if parents:
            head += f"from :{parents[0]}\n" + "".join(f"merge :{p}\n" for p in parents[1:])
        body = ["deleteall\n"]
        for p, lines in sorted(state.items()):
            data = ("\n".join(lines) + "\n").encode()
            body.append(f"M 100644 inline {p}\ndata {len(data)}\n")
            body.append(data.decode() + "\n")
        self.parts.append((head + "".join(body)).encode())
        return self.mark

    def merged(self, ours: int, theirs: int) -> dict[str, tuple[str, ...]]:
        """A plausible merge result (any tree is a valid merge commit for git)."""
        out = dict(self.states[ours])
        for p, lines in self.states[theirs].items():
            if self.rng.random() < 0.7:
                out[p] = lines
        return out

    def build(self, path: Path) -> None:
        rng = self.rng
        state = {f"{d}/f{i}.toml": self.content() for d in self.DIRS for i in range(2)}
        main = [self.commit("refs/heads/main", [], state, "initial\n")]
        sides: list[int] = []
        for step in range(rng.randint(6, 10)):
            if step == 4:
                for n in range(rng.randint(1, 3)):
                    main.append(self.commit("refs/heads/main", [main[-1]],
                                            self.mutate(self.states[main[-1]]),
                                            bot(f"batch {n}")))
            elif sides and rng.random() < 0.25:
                side = rng.choice(sides)
                main.append(self.commit("refs/heads/main", [main[-1], side],
                                        self.merged(main[-1], side), "merge side\n"))
            else:
                main.append(self.commit("refs/heads/main", [main[-1]],
                                        self.mutate(self.states[main[-1]]), "human\n"))
            if rng.random() < 0.4:
                start = rng.choice(main)
                sides.append(self.commit(f"refs/heads/side{step}", [start],
                                         self.mutate(self.states[start]), "side\n"))
        for i in range(7):
            tip = rng.choice(main[:-1] + sides)
            for _ in range(rng.randint(1, 2)):
                tip = self.commit(f"refs/heads/b{i}", [tip], self.mutate(self.states[tip]),
                                  "work\n" if rng.random() < 0.9 else bot("again"))
                if rng.random() < 0.25:
                    other = rng.choice(main)
                    tip = self.commit(f"refs/heads/b{i}", [tip, other],
                                      self.merged(tip, other), "merge main\n")
        self.parts.append(b"done\n")
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        subprocess.run(("git", "fast-import", "--quiet", "--done"), cwd=path,
                       input=b"".join(self.parts), check=True, capture_output=True)
        git(path, "reset", "-q", "--hard")


def _key(report: inflight.Report) -> list[tuple[object, ...]]:
    return [(v.refs, v.tip, v.verdict, v.conflicts, v.pre_existing, v.breaks, v.unreadable,
             v.batch_files, v.batch_ids) for v in report.verdicts]


# Seeds 25 and 46 fail when the pre-filter drops its "the base changed a path the branch
# changes" or its directory conditions (found by weakening it on seeds 0-299), so the test
# cannot pass with either condition missing.
SEEDS = (*range(12), 25, 46)


def test_prefilter_and_stand_ins_give_the_verdicts_of_every_real_merge(tmp_path: Path
                                                                        ) -> None:
    skipped = ran = caused = 0
    for seed in SEEDS:
        path = tmp_path / f"h{seed}"
        _History(seed).build(path)
        fast = check(path)
        full = check(path, prefilter=False, stand_ins=False)
        assert _key(fast) == _key(full), f"seed {seed}"
        assert _key(check(path, prefilter=False)) == _key(full), f"stand-ins, seed {seed}"
        skipped += sum(not v.after_merged for v in fast.verdicts)
        ran += sum(v.after_merged for v in fast.verdicts)
        caused += sum(bool(v.conflicts) for v in full.verdicts)
    # the histories exercise both paths of the pre-filter and revert-caused conflicts
    assert skipped >= 5 and ran >= 5 and caused >= 3, (skipped, ran, caused)


# -- the refs real registries have (issue 16) -------------------------------------------------


def squash_of(repo: Repo, name: str, subject: str) -> str:
    """Land branch name on main as one squash commit with a subject of its own."""
    repo.git("merge", "-q", "--squash", name)
    return repo.commit(f"{subject}\n")


def broken_ref(repo: Repo, ref: str, missing: str) -> str:
    """A commit on top of main whose parent or tree is absent, as a mirror that lost it has."""
    tree, parent = repo.head("HEAD^{tree}"), repo.head()
    header = (f"tree {tree}\nparent {'1' * 40}\n" if missing == "parent"
              else f"tree {'2' * 40}\nparent {parent}\n")
    oid = repo.git("hash-object", "-t", "commit", "--literally", "-w", "--stdin",
                   stdin=f"{header}author a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\nold\n"
                   ).strip()
    repo.git("update-ref", ref, oid)
    return oid


@pytest.mark.parametrize("missing", ["parent", "tree"])
def test_a_ref_with_a_missing_object_is_unreadable_and_the_radar_goes_on(
        registry: Repo, missing: str) -> None:
    r = registry
    tip = broken_ref(r, "refs/pull/9/head", missing)
    branch(r, "edit-alpha", "main", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",),
                                                                     extra="#\n")})
    report = check(r)
    rows = by_ref(report)
    lost = rows["refs/pull/9/head"]
    assert (lost.verdict, lost.tip, lost.hint) == (inflight.UNREADABLE, tip,
                                                   inflight.MISSING_HINT)
    assert lost.missing is not None and ("1" * 40 if missing == "parent" else "2" * 40) in \
        lost.missing
    assert not lost.blocking
    assert rows["refs/heads/edit-alpha"].verdict == inflight.CONFLICT  # the others are judged
    assert "cannot be read: " in render_inflight.report_text(report)
    doc = render_inflight.report_json(report)
    assert next(b for b in doc["branches"] if b["tip"] == tip)["missing"] == lost.missing
    stale = inflight.stale(context(r.path), timedelta(days=1))  # stale goes on too
    assert any(s.reason.startswith("unreadable: ") for s in stale.skipped)


def test_a_pull_request_squashed_under_a_subject_of_its_own_is_not_in_flight(
        registry: Repo) -> None:
    r = registry
    branch(r, "pr5", "main", {"recipes/g/gamma.toml": recipe("gamma")},
           bot("more", "2026-03-04-001"))
    r.git("update-ref", "refs/pull/5/head", "pr5")
    r.git("branch", "-q", "-D", "pr5")
    squash_of(r, "refs/pull/5/head", "feat(recipes): add batch recipes (1 recipe)")
    r.commit("later edit of gamma\n", {"recipes/g/gamma.toml": recipe("gamma", version="2")})
    branch(r, "open", "main", {"recipes/h/eta.toml": recipe("eta")}, bot("open", "2026-03-05-001"))
    report = check(r)
    assert "refs/pull/5/head" not in by_ref(report)  # landed, though gamma changed since
    assert ("refs/pull/5/head",) in [s.refs for s in report.skipped
                                     if s.reason == "its changes landed on the base"]
    assert "refs/heads/open" in by_ref(report)
    now = datetime(2026, 4, 1, tzinfo=UTC)
    ctx = context(r.path)._replace(clock=FixedClock(now))  # type: ignore[arg-type]
    assert [b.refs for b in inflight.stale(ctx, timedelta(days=1)).branches] == [
        ("refs/heads/open",)]


def test_a_partly_landed_pull_request_stays_in_flight(registry: Repo) -> None:
    r = registry
    branch(r, "pr6", "main", {"recipes/g/gamma.toml": recipe("gamma"),
                              "recipes/h/eta.toml": recipe("eta")})
    r.git("checkout", "-q", "pr6", "--", "recipes/g/gamma.toml")
    r.commit("land gamma only\n")
    assert by_ref(check(r))["refs/heads/pr6"].verdict == inflight.CLEAN


def test_branches_carrying_one_batch_or_adding_one_recipe_are_duplicates(
        registry: Repo) -> None:
    r = registry
    retry = "2026-03-09-001"
    branch(r, f"batch/{retry}", "main", {"recipes/n/nu.toml": recipe("nu")}, bot("run", retry))
    branch(r, f"batch/{retry}-retry", "main", {"recipes/x/xi.toml": recipe("xi")},
           bot("retry", retry))
    # a person's pull request stacked on the first: it holds that branch's commit, so it is
    # no duplicate of it (and the first is no duplicate of it)
    r.git("checkout", "-q", "-b", "stacked", f"batch/{retry}")
    r.commit("person: tweak nu\n", {"recipes/n/nu.toml": recipe("nu", version="1.1")})
    r.git("checkout", "-q", "main")
    branch(r, "unrelated", "main", {"recipes/o/omicron.toml": recipe("omicron")})
    rows = by_ref(check(r))
    first, second = rows[f"refs/heads/batch/{retry}"], rows[f"refs/heads/batch/{retry}-retry"]
    assert first.verdict == second.verdict == inflight.DUPLICATE
    assert first.duplicates == (inflight.Duplicate(f"batch {retry}",
                                                   (f"refs/heads/batch/{retry}-retry",)),)
    # the stacked one carries the batch id too, through the batch commit it holds
    assert rows["refs/heads/stacked"].duplicates == (
        inflight.Duplicate(f"batch {retry}", (f"refs/heads/batch/{retry}-retry",)),)
    assert rows["refs/heads/unrelated"].verdict == inflight.CLEAN


def test_duplicates_is_pure_and_symmetric() -> None:
    a = inflight.Open(("refs/heads/a",), frozenset({"1"}), (), ("recipes/x.toml",))
    b = inflight.Open(("refs/heads/b",), frozenset({"2"}), (), ("recipes/x.toml",))
    older_a = inflight.Open(("refs/pull/1/head",), frozenset(), (), ("recipes/x.toml",))
    found = inflight.duplicates([a, b, older_a])
    assert found[a.refs] == (inflight.Duplicate("recipes/x.toml", ("refs/heads/b",)),)
    assert found[b.refs] == (inflight.Duplicate("recipes/x.toml", ("refs/heads/a",)),)
    assert older_a.refs not in found  # its commits (none) are within every other's
    assert inflight.duplicates([a]) == {}
