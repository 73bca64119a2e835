"""Surgical revert and reapply on real repositories (issue 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.context import load_context
from gitops.errors import BranchExists, IdentityMissing, UnknownBatch, UsageError
from gitops.revert import apply, plan
from tests.conftest import Repo, git

B = "2026-03-03-001"


def bot(subject: str, batch_id: str = B) -> str:
    return f"{subject}\n\nBatch-Id: {batch_id}\n"


def recipe(name: str, deps: tuple[str, ...] = (), *, extra: str = "") -> str:
    listed = ", ".join(f'"{d}"' for d in deps)
    return f'[metadata]\nname = "{name}"\nversion = "1.0"\ndependencies = [{listed}]\n{extra}'


def run(repo: Repo | Path, batch_id: str = B, kind: str = "revert", **kw: object
        ) -> apply.Outcome:
    path = repo.path if isinstance(repo, Repo) else repo
    ctx = load_context(str(path), None, None, {})
    return apply.run(ctx, batch_id, kind, apply.Options(**kw))  # type: ignore[arg-type]


def outcomes(out: apply.Outcome) -> dict[str, str]:
    return {f.path: f.outcome for f in out.plan.files}


def tree(repo: Repo, rev: str) -> dict[str, str]:
    """path -> blob id of every file at rev."""
    out = {}
    for line in repo.git("ls-tree", "-r", rev).splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta.split()[2]
    return out


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit("base recipes\n", {
        "recipes/z/zlib.toml": recipe("zlib"),
        "recipes/c/curl.toml": recipe("curl", ("zlib",)),
        "recipes/o/old.toml": recipe("old"),
    })
    repo.commit(bot("batch 1/3"), {
        "recipes/a/alpha.toml": recipe("alpha", ("zlib",)),
        "recipes/c/curl.toml": recipe("curl", ("zlib",), extra="patched = true\n"),
        "batch-control.json": '{"run": 1}\n',
    })
    repo.commit("human: unrelated\n", {"docs/x.md": "x\n"}, author="Ana <ana@x>")
    repo.commit(bot("batch 2/3"), {"recipes/b/beta.toml": recipe("beta", ("alpha",)),
                                   "recipes/o/old.toml": None})
    repo.commit(bot("batch 3/3"), {"data/metrics/m.json": "{}\n"})
    return repo


def test_plan_outcomes_and_commit(registry: Repo) -> None:
    out = run(registry)
    assert outcomes(out) == {
        "recipes/a/alpha.toml": plan.DELETE,
        "recipes/b/beta.toml": plan.DELETE,
        "recipes/c/curl.toml": plan.RESTORE,
        "recipes/o/old.toml": plan.RECREATE,
    }
    assert out.plan.outside == ("batch-control.json", "data/metrics/m.json")
    assert out.branch == f"refs/heads/batch-revert/{B}"
    new = tree(registry, out.branch)
    before = tree(registry, "HEAD~4")  # the base before the batch
    for path in ("recipes/c/curl.toml", "recipes/o/old.toml", "recipes/z/zlib.toml"):
        assert new[path] == before[path]
    assert "recipes/a/alpha.toml" not in new and "recipes/b/beta.toml" not in new
    head = tree(registry, "HEAD")
    assert new["batch-control.json"] == head["batch-control.json"]  # outside scope: untouched
    assert new["data/metrics/m.json"] == head["data/metrics/m.json"]
    msg = registry.git("log", "-1", "--format=%B", out.branch)
    assert msg.startswith(f"Revert batch {B}\n")
    assert f"Reverts-Batch: {B}" in msg
    members = registry.git("log", "--format=%H", "-F", f"--grep=Batch-Id: {B}", "main").split()
    assert sorted(line.split(": ")[1] for line in msg.splitlines()
                  if line.startswith("Reverts-Commit:")) == sorted(members)
    assert registry.git("rev-parse", f"{out.branch}^") == registry.git("rev-parse", "main")


def test_dry_run_writes_nothing(registry: Repo) -> None:
    refs = registry.git("for-each-ref")
    out = run(registry, dry_run=True)
    assert out.commit is None and out.branch is None
    assert registry.git("for-each-ref") == refs


def test_later_edit_stops_skip_and_merge(registry: Repo) -> None:
    registry.commit("human tweak\n", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",))
                                      + "# reviewed\n"}, author="Ben <ben@x>")
    stopped = run(registry)
    assert stopped.stop == "conflicts" and stopped.commit is None
    conflict = next(f for f in stopped.plan.files if f.path == "recipes/a/alpha.toml")
    assert conflict.outcome == plan.CONFLICT and "Ben" in conflict.reason
    assert [e.commit.subject for e in conflict.later] == ["human tweak"]
    skipped = run(registry, on_conflict="skip")
    assert outcomes(skipped)["recipes/a/alpha.toml"] == plan.EDITED
    assert "recipes/a/alpha.toml" in tree(registry, skipped.branch)
    merged = run(registry, on_conflict="merge", branch="merged")
    # alpha was added by the batch and edited later: modify/delete cannot merge
    assert outcomes(merged)["recipes/a/alpha.toml"] == plan.CONFLICT


def test_clean_three_way_merge_keeps_later_edit(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    lines = [f"line{i} = {i}\n" for i in range(12)]
    repo.commit("base\n", {"recipes/m/m.toml": "".join(lines)})
    changed = lines.copy()
    changed[1] = "line1 = 'batch'\n"
    repo.commit(bot("batch edits top"), {"recipes/m/m.toml": "".join(changed)})
    human = changed.copy()
    human[10] = "line10 = 'human'\n"
    repo.commit("human edits bottom\n", {"recipes/m/m.toml": "".join(human)})
    out = run(repo, on_conflict="merge")
    assert outcomes(out) == {"recipes/m/m.toml": plan.MERGED}
    merged = repo.git("show", f"{out.branch}:recipes/m/m.toml")
    assert "line1 = 1\n" in merged and "line10 = 'human'\n" in merged


def test_interleaved_human_edit_counts_as_edited_later(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit(bot("batch adds"), {"recipes/x/x.toml": recipe("x")})
    repo.commit("human fixes x\n", {"recipes/x/x.toml": recipe("x") + "fixed = 1\n"})
    repo.commit(bot("batch rewrites"), {"recipes/x/x.toml": recipe("x") + "v = 2\n"})
    out = run(repo)
    assert outcomes(out) == {"recipes/x/x.toml": plan.CONFLICT}
    assert "between the batch's commits" in out.plan.files[0].reason


def test_protected_recipe_is_never_touched(registry: Repo) -> None:
    registry.commit("adopt alpha\n", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",))
                                      + "curated = true\n"})
    out = run(registry)
    assert outcomes(out)["recipes/a/alpha.toml"] == plan.PROTECTED
    assert "recipes/a/alpha.toml" in tree(registry, out.branch)


def test_dependency_break_stops_including_aliases(registry: Repo) -> None:
    registry.commit("human adds gamma\n", {"recipes/g/gamma.toml": recipe("gamma", ("beta",))})
    out = run(registry)
    assert out.stop == "dependencies"
    assert [(b.dependent, b.missing) for b in out.plan.broken] == [
        ("recipes/g/gamma.toml", "beta")]
    forced = run(registry, allow_broken_deps=True)
    assert forced.commit is not None
    registry.commit("provide beta via alias\n", {
        "recipes/b/beta-ng.toml": recipe("beta-ng", extra='aliases = ["beta"]\n')})
    assert run(registry, branch="with-alias").commit is not None


def test_unreadable_dependent_stops(registry: Repo) -> None:
    registry.commit("broken toml\n", {"recipes/g/gamma.toml": 'name = "gamma"\ndeps = ["beta"\n'})
    out = run(registry)
    assert out.stop == "unreadable"
    ((path, line, _msg),) = out.plan.unreadable
    assert path == "recipes/g/gamma.toml" and line is not None


def test_only_by_path_and_name_with_dependents(registry: Repo) -> None:
    out = run(registry, only=("recipes/c/curl.toml",))
    assert {p for p, o in outcomes(out).items() if o != plan.EXCLUDED} == {
        "recipes/c/curl.toml"}
    assert out.commit is not None
    # alpha alone would break beta (both from the batch): --with-dependents adds beta
    plain = run(registry, only=("alpha",), branch="only-alpha")
    assert plain.stop == "dependencies"
    closed = run(registry, only=("alpha",), with_dependents=True, branch="alpha-closure")
    assert closed.plan.with_dependents == ("recipes/b/beta.toml",)
    assert closed.commit is not None
    with pytest.raises(UsageError, match="no file of this batch"):
        run(registry, only=("nope",))


def test_revert_is_idempotent_and_reapply_round_trips(registry: Repo) -> None:
    out = run(registry)
    registry.git("merge", "-q", "--ff-only", out.branch)
    again = run(registry, branch="second")
    assert again.plan.nothing_to_do and again.commit is None
    back = run(registry, kind="reapply")
    assert back.commit is not None
    msg = registry.git("log", "-1", "--format=%B", back.branch)
    assert f"Reapplies-Batch: {B}" in msg
    registry.git("merge", "-q", "--ff-only", back.branch)
    assert tree(registry, "HEAD")["recipes/a/alpha.toml"] == tree(registry, "HEAD~2")[
        "recipes/a/alpha.toml"]
    third = run(registry, branch="third")
    assert third.commit is not None and not third.plan.nothing_to_do
    nothing = run(registry, kind="reapply", branch="none")  # nothing reverted since reapply
    assert nothing.plan.nothing_to_do


def test_branch_exists_and_force(registry: Repo) -> None:
    run(registry)
    with pytest.raises(BranchExists):
        run(registry)
    assert run(registry, force_branch=True).commit is not None


def test_onto_and_push(registry: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    registry.git("remote", "add", "origin", str(remote))
    registry.git("branch", "release", "HEAD~1")
    out = run(registry, onto="release", branch="fix/rollback", push="origin")
    assert registry.git("rev-parse", "fix/rollback^").strip() == registry.head("release")
    assert git(remote, "rev-parse", "refs/heads/fix/rollback").strip() == out.commit
    assert git(remote, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/fix/rollback"]


def test_working_tree_and_index_untouched(registry: Repo) -> None:
    (registry.path / "recipes/a/alpha.toml").write_text("dirty\n")
    (registry.path / "new.txt").write_text("untracked\n")
    registry.git("add", "new.txt")
    before = (registry.git("status", "--porcelain=v2", "--branch"),
              (registry.path / ".git/index").read_bytes(),
              (registry.path / "recipes/a/alpha.toml").read_text())
    assert run(registry).commit is not None
    after = (registry.git("status", "--porcelain=v2", "--branch"),
             (registry.path / ".git/index").read_bytes(),
             (registry.path / "recipes/a/alpha.toml").read_text())
    assert before == after


def test_bare_repository(registry: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(bare))
    out = run(bare)
    assert out.commit is not None
    assert git(bare, "rev-parse", out.branch).strip() == out.commit


def test_squash_and_merge_batches(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit("base\n", {"recipes/k/keep.toml": recipe("keep")})
    repo.git("checkout", "-q", "-b", "pr")
    repo.commit(bot("pr adds"), {"recipes/s/sq.toml": recipe("sq")})
    head = repo.head()
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", "pr")
    repo.commit("Add sq (#3)\n")
    repo.git("update-ref", "refs/pull/3/head", head)
    out = run(repo)
    assert outcomes(out) == {"recipes/s/sq.toml": plan.DELETE}
    repo.git("checkout", "-q", "-b", "side", "main")
    repo.commit(bot("side adds", "2026-03-04-001"), {"recipes/m/mg.toml": recipe("mg")})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "side", "-m", "Merge side")
    merged = run(repo, "2026-03-04-001")
    assert outcomes(merged) == {"recipes/m/mg.toml": plan.DELETE}


def test_file_and_directory_swap_back(make_repo: Callable[..., Repo]) -> None:
    """A batch that turned a file into a directory (and one the other way round) is reverted
    to the file (the directory): the tree edit holds both the path and paths under it."""
    repo = make_repo()
    repo.commit("base\n", {"recipes/f/flat.toml": recipe("flat"),
                           "recipes/n/nest.toml/inner.toml": recipe("inner")})
    repo.commit(bot("swap"), {"recipes/f/flat.toml": None,
                              "recipes/f/flat.toml/inner.toml": recipe("flat"),
                              "recipes/n/nest.toml/inner.toml": None,
                              "recipes/n/nest.toml": recipe("inner")})
    out = run(repo)
    assert outcomes(out) == {
        "recipes/f/flat.toml": plan.RECREATE,
        "recipes/f/flat.toml/inner.toml": plan.DELETE,
        "recipes/n/nest.toml": plan.DELETE,
        "recipes/n/nest.toml/inner.toml": plan.RECREATE,
    }
    assert out.branch is not None
    assert tree(repo, out.branch) == tree(repo, "HEAD~1")


def test_legacy_batch(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit("bot\n\nbatch_id: 2026-03-03-001\n", {"recipes/l/l.toml": recipe("l")})
    assert outcomes(run(repo)) == {"recipes/l/l.toml": plan.DELETE}


@pytest.mark.parametrize("onto", [None, "copy"], ids=["index-table", "git-grep"])
def test_dependency_sources_agree(registry: Repo, onto: str | None) -> None:
    """The index's recipe table and the git grep fallback (--onto) find the same breaks."""
    registry.commit("human adds gamma and delta\n", {
        "recipes/g/gamma.toml": recipe("gamma", ("beta",)),
        "recipes/d/delta.toml": '[metadata]\nname = "delta"\n[[steps]]\ndependencies = ["alpha"]\n',
        "recipes/q/quirk.toml": 'name = "quirk"\nbroken = [\n# alpha\n',
    })
    registry.git("branch", "copy", "main")
    out = run(registry, onto=onto, allow_broken_deps=True)
    assert sorted((b.dependent, b.missing) for b in out.plan.broken) == [
        ("recipes/d/delta.toml", "alpha"), ("recipes/g/gamma.toml", "beta")]
    assert [u[0] for u in out.plan.unreadable] == ["recipes/q/quirk.toml"]


def test_missing_identity_writes_no_branch(registry: Repo, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    registry.git("config", "user.useConfigOnly", "true")  # no guess from the host name
    with pytest.raises(IdentityMissing):
        run(registry)
    assert registry.git("branch", "--list", "batch-revert/*") == ""
    registry.git("config", "user.name", "Ana")
    registry.git("config", "user.email", "ana@x")
    assert run(registry).commit is not None


def test_branch_pointing_elsewhere_through_a_symbolic_ref_exists(registry: Repo) -> None:
    registry.git("symbolic-ref", f"refs/heads/batch-revert/{B}", "refs/heads/main")
    with pytest.raises(BranchExists, match="already exists"):
        run(registry)


def test_no_git_process_outlives_a_revert_that_writes_nothing(registry: Repo) -> None:
    """run() starts the branch's git processes before planning (gitcli.BranchWrite); a stop,
    an error or --dry-run must leave none of them running and no ref written."""
    import os  # noqa: PLC0415

    registry.commit("human adds gamma\n", {"recipes/g/gamma.toml": recipe("gamma", ("beta",))})
    refs = registry.git("for-each-ref")
    assert run(registry).stop == "dependencies"
    with pytest.raises(UnknownBatch):
        run(registry, batch_id="2026-03-03-999")  # well formed, unknown
    with pytest.raises(UsageError):
        run(registry, branch="bad..name", allow_broken_deps=True)
    assert run(registry, dry_run=True).commit is None
    assert registry.git("for-each-ref") == refs
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    # apply() on its own starts the processes itself once it knows it writes; a branch that
    # already exists stops it after that
    ctx = load_context(str(registry.path), None, None, {})
    plan = apply.prepare(ctx, B, "revert", apply.Options(allow_broken_deps=True))
    registry.git("branch", f"batch-revert/{B}")
    with pytest.raises(BranchExists):
        apply.apply(ctx, plan, apply.Options(allow_broken_deps=True))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
