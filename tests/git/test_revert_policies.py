"""Revert policies for real registries (issue 16): mass mechanical edits, --on-conflict
discard, ambiguous landings, and one dry run that names every blocker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitops.cli.revert import _stop_error
from gitops.errors import DependencyBreak, RevertAmbiguous, RevertConflict
from gitops.revert import apply, plan
from tests.conftest import Repo
from tests.git.test_landings_git import pr
from tests.git.test_revert import bot, outcomes, recipe, run, tree

B = "2026-03-03-001"
B2 = "2026-03-03-002"
MIGRATION = {f"recipes/m/lib{i}.toml": recipe(f"lib{i}") for i in range(4)}


def migrated(files: dict[str, str]) -> dict[str, str | None]:
    """What a reformatting bot does to every recipe: the same edit, everywhere."""
    return {p: text.replace("version = ", "version= ") for p, text in files.items()}


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.write(".git-batch.toml", "[revert]\nmechanical_edit_files = 3\n")
    repo.commit("base recipes\n", {
        "recipes/z/zlib.toml": recipe("zlib"),
        "recipes/c/curl.toml": "".join(f"line{i} = {i}\n" for i in range(12)),
        **MIGRATION,
    })
    repo.commit(bot("batch"), {
        "recipes/a/alpha.toml": recipe("alpha", ("zlib",)),
        "recipes/b/beta.toml": recipe("beta"),
        "recipes/c/curl.toml": "".join(f"line{i} = {i}\n" for i in range(11)) + "line11 = 99\n",
        "data/run.jsonl": '{"batch_id": "x"}\n',
    })
    return repo


def migrate(repo: Repo, paths: list[str]) -> str:
    files = {p: repo.git("show", f"HEAD:{p}") for p in [*paths, *MIGRATION]}
    return repo.commit("style: reformat every recipe\n", migrated(files),
                       author="migration-bot <bot@x>")


def test_later_edits_are_grouped_by_commit_with_breadth(registry: Repo) -> None:
    mech = migrate(registry, ["recipes/a/alpha.toml", "recipes/b/beta.toml"])
    human = registry.commit("tweak alpha\n", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",))
                                              + "# reviewed\n"}, author="Ana <ana@x>")
    out = run(registry, dry_run=True)
    assert out.stops == ("conflicts",)
    assert [(c.commit.oid, c.breadth, c.mechanical, c.paths) for c in out.plan.later] == [
        (mech, 6, True, ("recipes/a/alpha.toml", "recipes/b/beta.toml")),
        (human, 1, False, ("recipes/a/alpha.toml",)),
    ]


def test_merge_deletes_added_files_whose_only_later_edits_are_mechanical(registry: Repo
                                                                         ) -> None:
    migrate(registry, ["recipes/a/alpha.toml", "recipes/b/beta.toml"])
    registry.commit("tweak alpha\n", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",))
                                      + "# reviewed\n"}, author="Ana <ana@x>")
    out = run(registry, on_conflict="merge")
    got = outcomes(out)
    assert got["recipes/b/beta.toml"] == plan.DELETE  # only the migration touched it
    assert got["recipes/a/alpha.toml"] == plan.CONFLICT  # a person edited it too
    assert got["recipes/c/curl.toml"] == plan.RESTORE  # not edited later
    # under fail the same mechanical edit still stops: the policy is the operator's choice
    assert outcomes(run(registry, dry_run=True))["recipes/b/beta.toml"] == plan.CONFLICT


def test_a_commit_at_the_threshold_is_not_mechanical(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.write(".git-batch.toml", "[revert]\nmechanical_edit_files = 2\n")
    repo.commit("base\n", {"recipes/x.toml": recipe("x")})
    repo.commit(bot("batch"), {"recipes/a.toml": recipe("a")})
    repo.commit("two files\n", migrated({"recipes/a.toml": recipe("a"),
                                         "recipes/x.toml": recipe("x")}))
    assert outcomes(run(repo, dry_run=True, on_conflict="merge"))["recipes/a.toml"] == \
        plan.CONFLICT
    repo.write(".git-batch.toml", "[revert]\nmechanical_edit_files = 1\n")
    repo.commit("lower the threshold\n")
    assert outcomes(run(repo, dry_run=True, on_conflict="merge"))["recipes/a.toml"] == \
        plan.DELETE


def test_discard_takes_the_batch_back_and_lists_every_discarded_edit(registry: Repo) -> None:
    migrate(registry, ["recipes/a/alpha.toml", "recipes/b/beta.toml"])
    ana = registry.commit("tweak curl\n", {"recipes/c/curl.toml": "line0 = 0\n"},
                          author="Ana <ana@x>")
    registry.commit("adopt beta\n", {"recipes/b/beta.toml": recipe("beta") + "curated = true\n"},
                    author="Ben <ben@x>")
    registry.commit("human file\n", {"data/run.jsonl": "edited\n"}, author="Cy <cy@x>")
    before = tree(registry, "HEAD")
    out = run(registry, on_conflict="discard")
    assert outcomes(out) == {"recipes/a/alpha.toml": plan.DELETE,
                             "recipes/b/beta.toml": plan.PROTECTED,
                             "recipes/c/curl.toml": plan.RESTORE}
    after = tree(registry, out.branch)
    base = tree(registry, "HEAD~5")  # before the batch
    assert "recipes/a/alpha.toml" not in after
    assert after["recipes/c/curl.toml"] == base["recipes/c/curl.toml"]
    # protected and out-of-scope files byte-identical; nothing else moved
    for path in ("recipes/b/beta.toml", "data/run.jsonl", *MIGRATION, "recipes/z/zlib.toml"):
        assert after[path] == before[path]
    body = registry.git("log", "-1", "--format=%B", out.branch)
    discarded = body.split("Later edits discarded:\n", 1)[1].split("\n\n", 1)[0]
    assert f"{ana[:10]} by Ana <ana@x> on 2026-03-01 (touched 1 managed file):\n" \
           "    recipes/c/curl.toml" in discarded
    assert "migration-bot <bot@x>" in discarded and "mechanical" in discarded
    assert "beta" not in discarded  # protected: nothing of it was discarded


def test_one_dry_run_names_every_blocker(registry: Repo) -> None:
    registry.commit("tweak alpha\n", {"recipes/a/alpha.toml": recipe("alpha", ("zlib",))
                                      + "# reviewed\n"}, author="Ana <ana@x>")
    registry.commit("adopt beta\n", {"recipes/b/beta.toml": recipe("beta") + "curated = true\n"})
    registry.commit("human recipes\n", {
        "recipes/h/human.toml": recipe("human", ("alpha",)),
        "recipes/h/other.toml": recipe("other", extra='runtime_dependencies = ["alpha"]\n'),
        "recipes/h/build.toml": recipe("build", extra='[build]\ndependencies = ["alpha"]\n'),
    })
    out = run(registry, dry_run=True)
    assert out.stops == ("conflicts", "dependencies")
    assert outcomes(out)["recipes/a/alpha.toml"] == plan.CONFLICT
    assert outcomes(out)["recipes/b/beta.toml"] == plan.PROTECTED
    # every dependency field; a table that is no dependency field is not one
    assert sorted(b.dependent for b in out.plan.broken) == ["recipes/h/human.toml",
                                                            "recipes/h/other.toml"]
    err = _stop_error(out, "revert", apply.Options(dry_run=True))
    assert isinstance(err, RevertConflict)
    assert "1 file edited after the batch" in err.message
    assert "2 remaining recipes depending on removed ones" in err.message
    assert err.hint is not None and "--with-dependents" not in err.hint
    assert "not the batch's" in err.hint


def test_with_dependents_is_suggested_only_for_the_batch_s_own(make_repo: Callable[..., Repo]
                                                                ) -> None:
    repo = make_repo()
    repo.commit("base\n", {"recipes/z.toml": recipe("z")})
    repo.commit(bot("batch"), {"recipes/a.toml": recipe("a"),
                               "recipes/b.toml": recipe("b", ("a",))})
    out = run(repo, dry_run=True, only=("recipes/a.toml",))
    assert out.stops == ("dependencies",)
    err = _stop_error(out, "revert", apply.Options(only=("recipes/a.toml",)))
    assert isinstance(err, DependencyBreak)
    assert err.hint is not None and "--with-dependents" in err.hint


def test_a_failed_merge_suggests_skip_or_discard(registry: Repo) -> None:
    registry.commit("tweak curl\n", {"recipes/c/curl.toml": "line0 = 0\n"})
    out = run(registry, dry_run=True, on_conflict="merge")
    err = _stop_error(out, "revert", apply.Options(on_conflict="merge"))
    assert err.hint is not None and "skip" in err.hint and "discard" in err.hint


def test_ambiguous_files_stop_unless_included(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.commit("base\n", {"recipes/z.toml": recipe("z")})
    pr(repo, 12, [(bot("one", B), {"recipes/xz.toml": recipe("xz"), "recipes/a.toml": "a\n"})])
    pr(repo, 13, [(bot("two", B2), {"recipes/xz.toml": recipe("xz"), "recipes/c.toml": "c\n"})])
    for path in ("recipes/xz.toml", "recipes/a.toml"):  # a lands: B's; xz: either's
        repo.git("checkout", "-q", "pr12", "--", path)
        repo.commit(f"land {path}\n")
    repo.git("checkout", "-q", "pr13", "--", "recipes/c.toml")
    repo.commit("land c\n")
    out = run(repo, dry_run=True)
    assert outcomes(out) == {"recipes/a.toml": plan.DELETE, "recipes/xz.toml": plan.AMBIGUOUS}
    assert out.stops == ("ambiguous",)
    assert B2 in next(f.reason for f in out.plan.files if f.path == "recipes/xz.toml")
    assert isinstance(_stop_error(out, "revert", apply.Options()), RevertAmbiguous)
    # --only without it reverts the rest; --include-ambiguous takes it back as B's
    assert run(repo, only=("recipes/a.toml",), branch="only-a").commit is not None
    taken = run(repo, include_ambiguous=True)
    assert outcomes(taken)["recipes/xz.toml"] == plan.DELETE
    assert "recipes/xz.toml" not in tree(repo, taken.branch)
    assert "recipes/c.toml" in tree(repo, taken.branch)  # B2's own file: untouched


def test_dependents_through_every_alias_table(make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    repo.write(".git-batch.toml", '[recipes]\nalias_fields = ["metadata.aliases", '
               '"metadata.satisfies.*"]\n')
    repo.commit("base\n", {"recipes/z.toml": recipe("z")})
    repo.commit(bot("batch"), {"recipes/lib.toml": recipe(
        "lib", extra='aliases = ["libx"]\n[metadata.satisfies]\npypi = ["py-lib"]\n'
                     'npm = ["node-lib"]\n')})
    repo.commit("human recipes\n", {
        "recipes/p.toml": recipe("p", ("py-lib",)),
        "recipes/n.toml": recipe("n", ("node-lib",)),
        "recipes/x.toml": recipe("x", ("libx",)),
    })
    out = run(repo, dry_run=True)
    assert sorted((b.dependent, b.missing) for b in out.plan.broken) == [
        ("recipes/n.toml", "node-lib"), ("recipes/p.toml", "py-lib"), ("recipes/x.toml", "libx")]
