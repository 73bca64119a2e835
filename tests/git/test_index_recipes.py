"""The index's recipe tables: left behind by show and list, brought to the tip exactly (one
`git diff-tree` between the commit they describe and the tip) before revert and inflight read
them (issue 2: show after new commits parses no TOML; issue 3: the dependency check)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.context import load_context
from gitops.history import index as index_mod
from gitops.history import query
from gitops.revert import apply
from tests.conftest import Repo

B = "2026-03-03-001"


def recipe(name: str, deps: tuple[str, ...] = ()) -> str:
    listed = ", ".join(f'"{d}"' for d in deps)
    return f'[metadata]\nname = "{name}"\nversion = "1"\ndependencies = [{listed}]\n'


def ctx_of(repo: Repo):  # type: ignore[no-untyped-def]
    return load_context(str(repo.path), None, None, {})


def open_index(repo: Repo) -> index_mod.Index:
    idx = index_mod.Index.open(index_mod.index_path(repo.path / ".git", "refs/heads/main"))
    assert idx is not None
    return idx


def tips(repo: Repo) -> tuple[str | None, str | None]:
    idx = open_index(repo)
    try:
        return idx.meta("tip"), idx.recipes_tip()
    finally:
        idx.close()


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit("base\n", {"recipes/z/zlib.toml": recipe("zlib")})
    repo.commit(f"add beta\n\nBatch-Id: {B}\n", {"recipes/b/beta.toml": recipe("beta", ("zlib",))})
    query.list_batches(ctx_of(repo))  # builds the index: tables at the tip
    return repo


def test_show_leaves_the_recipes_behind_and_revert_catches_up(registry: Repo) -> None:
    before = registry.head("HEAD")
    registry.commit("human adds gamma\n", {"recipes/g/gamma.toml": recipe("gamma", ("beta",))})
    query.show(ctx_of(registry), B)
    assert tips(registry) == (registry.head("HEAD"), before)
    out = apply.run(ctx_of(registry), B, "revert", apply.Options(dry_run=True))
    assert out.stop == "dependencies"
    assert [(b.dependent, b.missing) for b in out.plan.broken] == [("recipes/g/gamma.toml", "beta")]
    assert tips(registry) == (registry.head("HEAD"),) * 2


def test_a_merge_that_drops_a_change_is_seen(registry: Repo) -> None:
    """gamma depends on beta at the indexed tip; the new tip is a merge (`-s ours` from a line
    without that change) whose first-parent diffs never name gamma, yet gamma at the tip no
    longer depends on beta. Refreshing the paths the new commits name would keep the old row."""
    registry.commit("gamma\n", {"recipes/g/gamma.toml": recipe("gamma")})
    fork = registry.head("HEAD")
    registry.commit("gamma needs beta\n", {"recipes/g/gamma.toml": recipe("gamma", ("beta",))})
    indexed = registry.head("HEAD")
    refreshed = query.ensure_index(ctx_of(registry), query.target(ctx_of(registry)))
    assert refreshed is not None
    refreshed.close()
    assert tips(registry) == (indexed, indexed)
    registry.git("checkout", "-q", "-b", "other", fork)
    registry.commit("unrelated\n", {"docs/x.md": "x\n"})
    registry.git("merge", "-q", "-s", "ours", "-m", "merge main, keep ours", indexed)
    registry.git("checkout", "-q", "main")
    registry.git("merge", "-q", "--ff-only", "other")
    idx = query.ensure_index(ctx_of(registry), query.target(ctx_of(registry)))
    assert idx is not None
    try:
        depends, _providers, _bad = idx.recipes_at_tip({"beta"})
        assert idx.recipes_tip() == registry.head("HEAD")
    finally:
        idx.close()
    assert depends == set()
    out = apply.run(ctx_of(registry), B, "revert", apply.Options(dry_run=True))
    assert out.stop is None and not out.plan.broken


def test_a_commit_gone_from_the_repository_means_every_recipe_is_read(registry: Repo,
                                                                      tmp_path: Path) -> None:
    path = index_mod.index_path(registry.path / ".git", "refs/heads/main")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'recipes_tip'", ("1" * 40,))
    assert index_mod.refresh_recipes(ctx_of(registry).repo, ctx_of(registry).config, path)
    idx = open_index(registry)
    try:
        assert idx.recipes_tip() == registry.head("HEAD")
        depends, providers, _bad = idx.recipes_at_tip({"zlib", "beta"})
    finally:
        idx.close()
    assert depends == {"recipes/b/beta.toml"}
    assert providers == {"zlib": {"recipes/z/zlib.toml"}, "beta": {"recipes/b/beta.toml"}}


def test_recipes_that_cannot_be_refreshed_mean_a_rebuild(registry: Repo,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    registry.commit("human adds gamma\n", {"recipes/g/gamma.toml": recipe("gamma", ("beta",))})
    query.show(ctx_of(registry), B)  # the tables stay behind
    monkeypatch.setattr(index_mod, "refresh_recipes", lambda *_a: False)
    warnings: list[str] = []
    idx = query.ensure_index(ctx_of(registry), query.target(ctx_of(registry)),
                              warn=warnings.append)
    assert idx is not None
    try:
        assert idx.recipes_tip() == idx.meta("tip") == registry.head("HEAD")
        depends, _providers, _bad = idx.recipes_at_tip({"beta"})
    finally:
        idx.close()
    assert depends == {"recipes/g/gamma.toml"}
    assert any("recipe tables" in w and "rebuilding" in w for w in warnings)
