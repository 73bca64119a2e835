"""The history index keeps both sides (mode, blob id) of every first-parent change (issue 3).

The stored sides are checked against `git diff-tree --raw`, an independent reading of the same
trees, and against the tree lookup apply.prepare falls back to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import demo
from gitops.context import load_context
from gitops.git.objects import Repo as PyRepo
from gitops.history import index as index_mod
from gitops.history import query
from gitops.history.report import blob_entry
from gitops.revert import apply, plan
from tests.conftest import Repo, git

B = "2026-03-03-001"
ZERO = "0" * 40
ODD = ("recipes/o/odd\tname.toml", 'recipes/o/quo"te.toml', "recipes/o/new\nline.toml",
       "recipes/o/ünï côdé.toml", "recipes/o/ lead.toml", "recipes/o/back\\slash.toml")


def ctx_of(path: Path):  # type: ignore[no-untyped-def]
    return load_context(str(path), None, None, {})


def stored(path: Path) -> dict[tuple[str, str], tuple[str, tuple[str, int], tuple[str, int]]]:
    """(commit, path) -> (status, old side, new side) as the index of refs/heads/main keeps it,
    sides in git's raw form (zero id and mode 0 when absent)."""
    idx = index_mod.Index.open(index_mod.index_path(path, "refs/heads/main"))
    assert idx is not None
    try:
        rows = idx.conn.execute(
            "SELECT c.oid, p.path, x.status, x.old_mode, x.old_oid, x.new_mode, x.new_oid "
            "FROM changes x JOIN commits c ON c.seq = x.seq JOIN paths p ON p.id = x.path_id"
        ).fetchall()
    finally:
        idx.close()
    return {(oid, p): (st, (oo.hex() if oo else ZERO, om), (no.hex() if no else ZERO, nm))
            for oid, p, st, om, oo, nm, no in rows}


def diff_tree(repo: Path) -> dict[tuple[str, str], tuple[str, tuple[str, int], tuple[str, int]]]:
    """The same, from `git diff-tree --raw` of every commit against its first parent."""
    lines = []
    for line in git(repo, "rev-list", "--parents", "refs/heads/main").splitlines():
        commit, *parents = line.split()
        lines.append(f"{commit} {parents[0]}" if parents else commit)
    out = git(repo, "diff-tree", "--stdin", "-r", "--raw", "-z", "--no-renames", "--root",
              stdin="\n".join(lines) + "\n")
    # bytes would be cleaner, but test paths are valid UTF-8 and git() decodes text
    tokens = out.split("\0")
    found = {}
    commit = ""
    i = 0
    while i < len(tokens):
        tok = tokens[i].strip("\n")
        if tok.startswith(":"):
            om, nm, oo, no, status = tok[1:].split(" ")
            found[commit, tokens[i + 1]] = (status, (oo, int(om, 8)), (no, int(nm, 8)))
            i += 2
            continue
        if len(tok) == 40:
            commit = tok
        i += 1
    return found


def test_sides_match_diff_tree_on_the_demo_registry(tmp_path: Path) -> None:
    info = demo.generate(tmp_path / "registry", commits=400, seed=11)
    query.list_batches(ctx_of(info.path))
    mine, theirs = stored(info.path / ".git"), diff_tree(info.path)
    assert mine == theirs
    statuses = {st for st, _o, _n in mine.values()}
    assert {"A", "M", "D"} <= statuses
    merges = git(info.path, "rev-list", "--merges", "main").split()
    assert any(oid in merges for oid, _p in mine)  # first-parent changes of merges are kept


@pytest.fixture
def odd_repo(make_repo: Callable[..., Repo]) -> Repo:
    """Every kind of change: add, modify, mode change, delete, type changes to and from a
    symlink and a submodule, a file replaced by a directory, a merge, odd path names."""
    repo = make_repo()
    repo.commit("base\n", {"recipes/a/a.toml": "a = 1\n", "recipes/b/b.toml": "b = 1\n",
                           "recipes/l/link.toml": "l = 1\n", "recipes/s/sub": "file\n",
                           "recipes/d/dir.toml": "d = 1\n",
                           **{p: "odd = 1\n" for p in ODD}})
    repo.commit(f"batch 1\n\nBatch-Id: {B}\n", {
        "recipes/a/a.toml": "a = 2\n", "recipes/b/b.toml": None,
        "recipes/n/new.toml": "n = 1\n", **{p: "odd = 2\n" for p in ODD}})
    (repo.path / "recipes/l/link.toml").unlink()
    (repo.path / "recipes/l/link.toml").symlink_to("../a/a.toml")
    (repo.path / "recipes/a/a.toml").chmod(0o755)
    (repo.path / "recipes/d/dir.toml").unlink()
    repo.write("recipes/d/dir.toml/inner.toml", "i = 1\n")
    repo.git("add", "-A")
    repo.git("rm", "-q", "--cached", "recipes/s/sub")
    (repo.path / "recipes/s/sub").unlink()
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{repo.head()},recipes/s/sub")
    repo.git("commit", "-q", "-m", f"batch 2: types\n\nBatch-Id: {B}\n")
    repo.git("checkout", "-q", "-b", "side", "HEAD~1")
    repo.commit("side work\n", {"recipes/x/side.toml": "x = 1\n", ODD[0]: "odd = 3\n"})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    repo.git("rm", "-q", "--cached", "recipes/s/sub")
    (repo.path / "recipes/s/sub").rmdir()  # checkout leaves an empty directory for a submodule
    repo.commit("submodule back to a file\n", {"recipes/s/sub": "file again\n",
                                               "recipes/l/link.toml": None})
    return repo


def test_sides_of_every_kind_of_change(odd_repo: Repo) -> None:
    query.list_batches(ctx_of(odd_repo.path))
    mine, theirs = stored(odd_repo.path / ".git"), diff_tree(odd_repo.path)
    assert mine == theirs
    modes = {(st, o[1], n[1]) for st, o, n in mine.values()}
    assert ("T", 0o100644, 0o120000) in modes  # file -> symlink
    assert ("T", 0o100644, 0o160000) in modes  # file -> submodule
    assert ("T", 0o160000, 0o100644) in modes  # submodule -> file
    assert ("D", 0o120000, 0) in modes  # symlink deleted
    assert ("M", 0o100644, 0o100755) in modes  # mode change
    assert {p for _c, p in mine} >= set(ODD) | {"recipes/d/dir.toml/inner.toml"}
    merge = odd_repo.head("HEAD~1")
    assert {p for c, p in mine if c == merge} == {"recipes/x/side.toml", ODD[0]}


def test_incremental_update_keeps_the_sides(make_repo: Callable[..., Repo],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo()
    repo.commit("base\n", {"recipes/a/a.toml": "a = 1\n", "recipes/b/b.toml": "b = 1\n",
                           "recipes/c/c.toml": "c = 1\n"})
    query.list_batches(ctx_of(repo.path))

    def no_rebuild(*_args: object, **_kw: object) -> None:
        raise AssertionError("new commits must be appended, not rebuilt")

    monkeypatch.setattr(index_mod, "build_full", no_rebuild)
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side\n", {"recipes/s/s.toml": "s = 1\n", "recipes/c/c.toml": "c = 2\n"})
    repo.git("checkout", "-q", "main")
    repo.commit(f"batch\n\nBatch-Id: {B}\n", {"recipes/b/b.toml": None, ODD[2]: "x = 1\n"})
    (repo.path / "recipes/a/a.toml").unlink()
    (repo.path / "recipes/a/a.toml").symlink_to("elsewhere")
    repo.commit("a becomes a symlink\n")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    query.list_batches(ctx_of(repo.path))
    mine, theirs = stored(repo.path / ".git"), diff_tree(repo.path)
    assert mine == theirs
    assert ("T", 0o100644, 0o120000) in {(st, o[1], n[1]) for st, o, n in mine.values()}


def test_sides_answer_as_the_tree_lookup_does(odd_repo: Repo) -> None:
    """Index.sides() gives what Repo.entries reads from the parent's and the commit's trees
    (a submodule or a directory is no file: None)."""
    ctx = ctx_of(odd_repo.path)
    query.list_batches(ctx)
    idx = index_mod.Index.open(index_mod.index_path(ctx.repo.common_dir, "refs/heads/main"))
    assert idx is not None
    try:
        pairs = [(p, seq) for p, seq in idx.conn.execute(
            "SELECT p.path, x.seq FROM changes x JOIN paths p ON p.id = x.path_id")]
        oids = dict(idx.conn.execute("SELECT seq, oid FROM commits"))
        sides = idx.sides(pairs)
    finally:
        idx.close()
    assert set(sides) == set(pairs)
    py = PyRepo(odd_repo.path)
    for (path, seq), (old, new) in sides.items():
        parent = py.first_parent(oids[seq])
        assert old == (py.entry(parent, path) if parent else None), (path, oids[seq])
        assert new == py.entry(oids[seq], path), (path, oids[seq])
    assert any(new is None and old is not None for old, new in sides.values())


def test_blob_entry_treats_absent_submodules_and_trees_as_no_file() -> None:
    assert blob_entry((ZERO, 0)) is None
    assert blob_entry(("1" * 40, 0o160000)) is None
    assert blob_entry(("1" * 40, 0o040000)) is None
    assert blob_entry(("1" * 40, 0o120000)) == ("1" * 40, 0o120000)
    assert blob_entry(("1" * 40, 0o100755)) == ("1" * 40, 0o100755)


def test_revert_takes_pre_and_post_from_the_index(odd_repo: Repo,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No tree of a batch commit (or its parent) is read; with the index silent, the tree
    lookup gives the same plan."""
    ctx = ctx_of(odd_repo.path)
    expected = apply.prepare(ctx, B, "revert", apply.Options())
    read: list[str] = []
    entries = PyRepo.entries

    def spy(self: PyRepo, commit: str, paths: object) -> object:
        read.append(commit)
        return entries(self, commit, paths)  # type: ignore[arg-type]

    monkeypatch.setattr(PyRepo, "entries", spy)
    assert apply.prepare(ctx, B, "revert", apply.Options()) == expected
    assert set(read) == {expected.target}
    read.clear()
    monkeypatch.setattr(index_mod.Index, "sides", lambda self, wanted: {})
    assert apply.prepare(ctx, B, "revert", apply.Options()) == expected
    assert len(set(read)) > 1  # the fallback read the batch commits' trees
    monkeypatch.undo()
    assert {f.path: f.outcome for f in expected.files} == {
        "recipes/a/a.toml": plan.RESTORE,  # content and mode back
        "recipes/b/b.toml": plan.RECREATE,
        "recipes/d/dir.toml": plan.RECREATE,  # a file again, where the batch made a directory
        "recipes/d/dir.toml/inner.toml": plan.DELETE,
        "recipes/l/link.toml": plan.CONFLICT,  # deleted after the batch
        "recipes/n/new.toml": plan.DELETE,
        "recipes/s/sub": plan.CONFLICT,  # a file again after the batch
        ODD[0]: plan.CONFLICT,  # edited on the merged side branch
        **{p: plan.RESTORE for p in ODD[1:]},
    }
    out = apply.run(ctx, B, "revert", apply.Options(on_conflict="skip"))
    assert out.commit is not None
    py = PyRepo(odd_repo.path)
    for f in out.plan.files:
        assert py.entry(out.commit, f.path) == f.new, f.path
    assert py.entry(out.commit, "recipes/a/a.toml") == py.entry(odd_repo.head("HEAD~4"),
                                                                "recipes/a/a.toml")


def _downgrade(path: Path) -> None:
    """Turn a fresh index into what git-batch 0.1 (schema 5) left behind: no sides."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "UPDATE meta SET value = '5' WHERE key = 'schema_version';"
        "CREATE TABLE old_changes(path_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "status TEXT NOT NULL, PRIMARY KEY(path_id, seq)) WITHOUT ROWID;"
        "INSERT INTO old_changes SELECT path_id, seq, status FROM changes;"
        "DROP TABLE changes; ALTER TABLE old_changes RENAME TO changes;")
    conn.close()


def test_old_schema_index_is_rebuilt(odd_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = ctx_of(odd_repo.path)
    query.list_batches(ctx)
    path = index_mod.index_path(ctx.repo.common_dir, "refs/heads/main")
    _downgrade(path)
    assert index_mod.Index.open(path) is None
    assert index_mod.Index.stored_schema(path) == "5"
    # show never builds: it answers from git meanwhile
    assert len(query.show(ctx_of(odd_repo.path), B).members) == 2
    capsys.readouterr()
    out = apply.run(ctx_of(odd_repo.path), B, "revert", apply.Options(dry_run=True))
    assert out.plan.changing
    assert "built by another version of git-batch (index schema 5" in capsys.readouterr().err
    assert index_mod.Index.stored_schema(path) == index_mod.SCHEMA_VERSION
    assert stored(ctx.repo.common_dir) == diff_tree(odd_repo.path)
