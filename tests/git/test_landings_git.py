"""Landings by content on real repositories: each shape a pipeline's history takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.context import Context, load_context
from gitops.errors import UnknownBatch
from gitops.history import query
from tests.conftest import Repo

B1, B2 = "2026-03-03-001", "2026-03-03-002"


def ctx_of(repo: Repo) -> Context:
    return load_context(str(repo.path), None, None, {})


def bot(subject: str, batch_id: str) -> str:
    return f"{subject}\n\nGenerated.\n\necosystem: pypi\n\nBatch-Id: {batch_id}\n"


def pr(repo: Repo, number: int, commits: list[tuple[str, dict[str, str | None]]],
       base: str = "main") -> str:
    """A pull request branch pr<number> off base with commits; its ref; returns the head."""
    repo.git("checkout", "-q", "-b", f"pr{number}", base)
    for message, files in commits:
        repo.commit(message, files)
    head = repo.head()
    repo.git("checkout", "-q", "main")
    repo.git("update-ref", f"refs/pull/{number}/head", head)
    return head


def squash(repo: Repo, number: int, subject: str, *, drop: bool = True) -> str:
    repo.git("merge", "-q", "--squash", f"pr{number}")
    oid = repo.commit(f"{subject}\n")
    if drop:
        repo.git("branch", "-q", "-D", f"pr{number}")
    return oid


def show(repo: Repo, batch_id: str) -> query.BatchReport:
    query.list_batches(ctx_of(repo))
    return query.show(ctx_of(repo), batch_id)


@pytest.fixture
def repo(make_repo: Callable[..., Repo]) -> Repo:
    r = make_repo()
    r.write(".git-batch.toml", '[batch]\necosystem_line = "ecosystem"\n')
    r.commit("config\n", {"recipes/h/human.toml": "h = 1\n"})
    return r


def test_a_custom_subject_squash_of_a_fixed_up_pull_request(repo: Repo) -> None:
    pr(repo, 12, [(bot("add recipes", B1), {"recipes/a.toml": "a = 1\n", "recipes/b.toml": "b\n",
                                            "batch-control.json": "{}\n"}),
                  ("fix a\n", {"recipes/a.toml": "a = 2\n"}),
                  ("docs\n", {"README.md": "human docs\n"})])
    landing = squash(repo, 12, "feat(recipes): add batch recipes (2 recipes)")
    r = show(repo, B1)
    (member,) = r.members
    # a subject of its own: found by content, through the pull request's ref
    assert (member.commit.oid, member.source, member.detail) == (landing, "content",
                                                                  "refs/pull/12/head")
    assert [c.path for c in member.changes] == ["batch-control.json", "recipes/a.toml",
                                                  "recipes/b.toml"]
    assert [c.path for c in member.alongside] == ["README.md"]  # the human's commit on the PR
    assert r.files.added == ("recipes/a.toml", "recipes/b.toml")
    assert r.outside == ("batch-control.json",)
    assert r.ecosystems == ("pypi",) and r.unlanded == ()


def test_without_the_pull_request_ref_the_branch_carries_it(repo: Repo) -> None:
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a = 1\n"})])
    repo.git("update-ref", "-d", "refs/pull/12/head")
    landing = squash(repo, 12, "chore: land things", drop=False)
    (member,) = show(repo, B1).members
    assert (member.commit.oid, member.source, member.detail) == (landing, "content",
                                                                  "refs/heads/pr12")


def test_a_squash_whose_subject_names_the_pull_request(repo: Repo) -> None:
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a = 1\n"})])
    landing = squash(repo, 12, "Add recipes (#12)")
    (member,) = show(repo, B1).members
    assert (member.commit.oid, member.source, member.detail) == (landing, "pull-request", "#12")


def test_a_stacked_human_pull_request_never_becomes_a_member(repo: Repo) -> None:
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a = 1\n", "recipes/b.toml": "b\n"})])
    pr(repo, 13, [("human fix of a\n", {"recipes/a.toml": "a = 3\n"})], base="pr12")
    first = squash(repo, 12, "land the batch", drop=False)
    # the forge squashes the stacked pull request onto the new main: the human's change only
    repo.git("checkout", "-q", "pr13", "--", "recipes/a.toml")
    second = repo.commit("Fix a (#13)\n")
    r = show(repo, B1)
    assert [m.commit.oid for m in r.members] == [first]
    assert [(e.path, e.commit.oid) for e in r.later_edits] == [("recipes/a.toml", second)]


def test_a_batch_landed_in_two_squashes_and_one_file_never(repo: Repo) -> None:
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a\n", "recipes/b.toml": "b\n",
                                    "recipes/c.toml": "c\n"})])
    repo.git("checkout", "-q", "pr12", "--", "recipes/a.toml")
    one = repo.commit("part one\n")
    repo.git("checkout", "-q", "pr12", "--", "recipes/b.toml")
    two = repo.commit("part two\n")
    r = show(repo, B1)
    assert [(m.commit.oid, [c.path for c in m.changes]) for m in r.members] == [
        (one, ["recipes/a.toml"]), (two, ["recipes/b.toml"])]
    assert r.unlanded == ("recipes/c.toml",)


def test_regenerated_files_go_to_the_batch_whose_whole_change_landed(repo: Repo) -> None:
    pr(repo, 12, [(bot("abandoned", B1), {"recipes/xz.toml": "same\n", "recipes/a.toml": "a\n"})])
    pr(repo, 13, [(bot("regenerated", B2), {"recipes/xz.toml": "same\n", "recipes/c.toml": "c\n"})])
    landing = squash(repo, 13, "feat: recipes")
    assert [c.path for c in show(repo, B2).members[0].changes] == ["recipes/c.toml",
                                                                   "recipes/xz.toml"]
    with pytest.raises(UnknownBatch):
        show(repo, B1)
    assert landing


def test_equal_matches_are_ambiguous_and_shown(repo: Repo) -> None:
    pr(repo, 12, [(bot("one", B1), {"recipes/xz.toml": "same\n", "recipes/a.toml": "a\n"})])
    pr(repo, 13, [(bot("two", B2), {"recipes/xz.toml": "same\n", "recipes/c.toml": "c\n"})])
    repo.git("checkout", "-q", "pr13", "--", "recipes/xz.toml")
    landing = repo.commit("land xz only\n")  # half of either pull request: no better match
    query.list_batches(ctx_of(repo))
    for batch_id in (B1, B2):  # neither owns it, and show says why
        with pytest.raises(UnknownBatch, match="ambiguous"):
            query.show(ctx_of(repo), batch_id)
    repo.git("checkout", "-q", "pr13", "--", "recipes/c.toml")
    repo.commit("land the rest\n")
    r = show(repo, B2)
    assert r.ambiguous == (("recipes/xz.toml", landing, (B1, B2)),)
    assert [c.path for m in r.members for c in m.changes] == ["recipes/c.toml"]


@pytest.mark.parametrize("missing", ["parent", "tree"])
def test_a_ref_with_a_missing_object_is_left_out_not_fatal(make_repo: Callable[..., Repo],
                                                            missing: str) -> None:
    repo = make_repo()  # with id files: the commits of every ref are diffed, not only batches'
    repo.write(".git-batch.toml",
               '[batch]\nid_files = [{ glob = "data/*.jsonl", field = "batch_id" }]\n')
    repo.commit("config\n")
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a\n"})])
    squash(repo, 12, "land")
    tree, parent = repo.head("HEAD^{tree}"), repo.head()
    header = (f"tree {tree}\nparent {'1' * 40}\n" if missing == "parent"
              else f"tree {'2' * 40}\nparent {parent}\n")
    broken = repo.git("hash-object", "-t", "commit", "--literally", "-w", "--stdin",
                      stdin=f"{header}author a <a@b> 1 +0000\n"
                            f"committer a <a@b> 1 +0000\n\nbroken\n").strip()
    repo.git("update-ref", "refs/pull/99/head", broken)
    assert [m.detail for m in show(repo, B1).members] == ["refs/pull/12/head"]


def test_ids_from_the_run_record_a_commit_adds(make_repo: Callable[..., Repo]) -> None:
    r = make_repo()
    r.write(".git-batch.toml",
            '[batch]\nid_files = [{ glob = "data/metrics/*.jsonl", field = "batch_id" }]\n')
    r.commit("config\n")
    record = f'{{"batch_id": "{B1}", "package": "a"}}\n{{"batch_id": "{B1}", "package": "b"}}\n'
    on_base = r.commit("add recipes without a trailer\n",
                       {"recipes/a.toml": "a\n", f"data/metrics/{B1}.jsonl": record})
    (member,) = show(r, B1).members
    assert (member.commit.oid, member.source) == (on_base, "id-file")
    pr(r, 5, [("more, no trailer\n", {"recipes/b.toml": "b\n",
                                      f"data/metrics/{B2}.jsonl": f'{{"batch_id": "{B2}"}}\n'})])
    landing = squash(r, 5, "squash it")
    (member,) = show(r, B2).members  # the squash adds the run record: it names its batch
    assert member.commit.oid == landing and member.source == "id-file"


def test_show_without_an_index_builds_it_for_a_content_landing(repo: Repo,
                                                               tmp_path: Path) -> None:
    pr(repo, 12, [(bot("add", B1), {"recipes/a.toml": "a\n"})])
    squash(repo, 12, "land")
    ctx = ctx_of(repo)
    r = query.show(ctx, B1)  # no index yet
    assert [m.source for m in r.members] == ["content"]
    assert tmp_path.exists()
