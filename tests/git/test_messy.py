"""The messy-registry generator: deterministic, and its ground truth is true of what it wrote.

Everything here is checked with plain git (and tomllib), never with gitops' history code: the
other tests use this ground truth to judge that code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitops import messy
from gitops.config import CONFIG_FILENAME, parse_config_text
from gitops.errors import UsageError

SIZE = 2000
ID = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{3}$")
CONFIG = parse_config_text(messy.CONFIG_TEXT, CONFIG_FILENAME)


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def ok(repo: Path, *args: str) -> bool:
    return subprocess.run(("git", *args), cwd=repo, capture_output=True).returncode == 0


@contextmanager
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An isolated git environment for module-scoped fixtures (the autouse one is per test)."""
    home = tmp_path_factory.mktemp("messy-home")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("GIT_"):
                mp.delenv(key)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("LC_ALL", "C")
        yield


@pytest.fixture(scope="module")
def info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[messy.MessyInfo]:
    with isolated(tmp_path_factory):
        yield messy.generate(tmp_path_factory.mktemp("messy") / "registry", commits=SIZE)


@pytest.fixture(scope="module")
def first_parents(info: messy.MessyInfo) -> list[str]:
    """main's first-parent commits, oldest first."""
    return git(info.path, "rev-list", "--first-parent", "--reverse", "main").split()


@pytest.fixture(scope="module")
def main_changes(info: messy.MessyInfo) -> dict[str, dict[str, bool]]:
    """first-parent commit -> {path: deleted?} against its first parent, oldest first (one
    log: with --first-parent, git diffs a merge against its first parent only)."""
    out = git(info.path, "log", "--first-parent", "--reverse", "--no-renames", "--name-status",
              "-z", "--format=%x01%H", "main")
    result: dict[str, dict[str, bool]] = {}
    for record in out.split("\x01")[1:]:
        commit, _, rest = record.partition("\0")
        fields = rest.strip("\0\n").split("\0")
        result[commit] = {path: status == "D"
                          for status, path in zip(fields[0::2], fields[1::2], strict=True)}
    return result


@pytest.fixture(scope="module")
def deleted_on_main(main_changes: dict[str, dict[str, bool]]) -> dict[str, set[str]]:
    return {c: {p for p, gone in paths.items() if gone} for c, paths in main_changes.items()}


def blobs(repo: Path, specs: list[str]) -> dict[str, str | None]:
    """rev:path -> blob id, or None when the path is absent there (one cat-file for all)."""
    out = git(repo, "cat-file", "--batch-check=%(objectname) %(objecttype)",
              stdin="".join(f"{s}\n" for s in specs)).splitlines()
    assert len(out) == len(specs)
    return {s: (line.split()[0] if line.endswith(" blob") else None)
            for s, line in zip(specs, out, strict=True)}


def changed(repo: Path, parent: str, commit: str) -> dict[str, str | None]:
    """path -> new blob (None: deleted) for every path commit changes against parent."""
    out = git(repo, "diff-tree", "-r", "--no-renames", "-z", parent, commit)
    fields = out.split("\0")
    result: dict[str, str | None] = {}
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta:
            continue
        new, status = meta.split()[3], meta.split()[4]
        result[path] = None if status == "D" else new
    return result


def message(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--format=%B", commit)


def trailer(repo: Path, commit: str, key: str) -> str:
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", commit).strip()


def carried(b: messy.MessyBatch) -> dict[str, str | None]:
    return dict(b.carried)


def managed_carried(b: messy.MessyBatch) -> dict[str, str | None]:
    return {p: blob for p, blob in b.carried if CONFIG.is_managed(p)}


# -- shape ---------------------------------------------------------------------------------------


def test_generate_has_the_size_the_config_and_the_dates(info: messy.MessyInfo,
                                                       first_parents: list[str]) -> None:
    repo = info.path
    assert info.commits == SIZE
    assert git(repo, "rev-list", "--count", "main").strip() == str(SIZE)
    assert git(repo, "status", "--porcelain") == ""
    text = git(repo, "show", f"main:{CONFIG_FILENAME}")
    assert text == messy.CONFIG_TEXT
    cfg = parse_config_text(text, CONFIG_FILENAME)
    assert cfg.batch.ecosystem_line == "ecosystem" and cfg.revert.mechanical_edit_files == 50
    dates = [int(x) for x in git(repo, "log", "--first-parent", "--reverse", "--format=%ct",
                                 "main").split()]
    assert dates == sorted(dates)
    assert datetime.fromtimestamp(dates[-1], UTC).date().isoformat() == "2026-11-30"
    assert datetime.fromtimestamp(dates[0], UTC) >= messy.START
    # Every readable ref's history ends by then (the broken refs cannot be walked at all).
    broken = set(info.missing_object_refs)
    refs = [r for r in git(repo, "for-each-ref", "--format=%(refname)").split() if r not in broken]
    latest = max(int(x) for x in git(repo, "log", "--format=%ct", *refs).split())
    assert latest <= messy.END.timestamp()
    assert len(first_parents) < SIZE  # merges bring in more commits than main's own


def test_every_commit_of_main_changes_something(info: messy.MessyInfo,
                                                first_parents: list[str]) -> None:
    out = git(info.path, "log", "--first-parent", "--no-renames", "--name-only",
              "--format=%x01%H", "main")
    changing = {record.split("\n", 1)[0] for record in out.split("\x01")[1:]
                if record.split("\n", 1)[1].strip()}
    assert changing == set(first_parents)


def test_generate_is_deterministic_and_the_operator_adds_one_commit(info: messy.MessyInfo,
                                                                    tmp_path: Path) -> None:
    """Same seed, same commits; with operator, only main's last commit (a fresh key) differs."""
    again = messy.generate(tmp_path / "again", commits=SIZE, operator=True, bare=True)
    assert again.operator is not None and again.commits == info.commits + 1
    assert git(again.path, "rev-parse", "main^") == git(info.path, "rev-parse", "main")
    listed = git(again.path, "show", "--format=", "--name-only", "main").split()
    assert listed == [".git-batch/allowed_signers"]
    refs = "--format=%(objectname) %(refname)"
    ours = set(git(again.path, "for-each-ref", refs, "refs/pull", "refs/heads/batch",
                   "refs/heads/feature").splitlines())
    assert ours == set(git(info.path, "for-each-ref", refs).splitlines()) - {
        git(info.path, "for-each-ref", refs, "refs/heads/main").strip()}
    assert again.batches == info.batches and again.pulls == info.pulls
    assert again.stacked == info.stacked and again.ambiguous == info.ambiguous


def test_generate_differs_per_seed(info: messy.MessyInfo, tmp_path: Path) -> None:
    other = messy.generate(tmp_path / "other", commits=messy.MIN_COMMITS, seed=8, bare=True)
    assert other.commits == messy.MIN_COMMITS
    assert git(other.path, "rev-parse", "main") != git(info.path, "rev-parse", "main")


@pytest.mark.parametrize(("setup", "commits"), [("new", 999), ("file", 1000), ("full", 1000)])
def test_generate_refuses_bad_targets(tmp_path: Path, setup: str, commits: int) -> None:
    target = tmp_path / "target"
    if setup == "file":
        target.write_text("x")
    elif setup == "full":
        target.mkdir()
        (target / "work").write_text("keep me")
    with pytest.raises(UsageError):
        messy.generate(target, commits=commits)


def test_every_phenomenon_occurs(info: messy.MessyInfo) -> None:
    counts = messy.counts(info)
    for form in messy.FORMS:
        assert counts[f"form {form}"] >= 2, form
    assert counts["form squash-custom"] > counts["batches"] // 2
    for key in ("legacy ids", "with fix-ups", "landings with (#N)", "batches ambiguous",
                "batches with later edits", "batches with mechanical edits",
                "batches with 10+ dependents outside", "batches with protected recipes",
                "batches with hand deletions", "kept batch branches", "missing object refs",
                "mechanical commits", "stacked pull requests", "re-added recipes"):
        assert counts[key] >= 2, key
    assert counts["ambiguous landings"] >= 1
    assert counts["duplicate branch groups"] >= 3
    assert SIZE // 5 * 0.8 <= counts["pull request refs"] <= SIZE // 5 * 1.2


# -- batches and their pull requests -----------------------------------------------------------


def test_batch_commits_carry_their_id_ecosystem_and_metrics(info: messy.MessyInfo) -> None:
    repo = info.path
    for b in info.batches:
        assert ID.match(b.batch_id)
        for commit in b.commits:
            assert git(repo, "log", "-1", "--format=%an <%ae>", commit).strip() == \
                "registry-bot <bot@registry.example>"
            text = message(repo, commit)
            last = text.strip().split("\n\n")[-1]
            if b.id_form == "trailer":
                assert trailer(repo, commit, "Batch-Id") == b.batch_id
            else:
                assert last == f"batch_id: {b.batch_id}" and not trailer(repo, commit, "Batch-Id")
            assert f"\necosystem: {b.ecosystem}\n" in text
            metrics = git(repo, "show", f"{commit}:data/metrics/{b.batch_id}.jsonl")
            rows = [json.loads(line) for line in metrics.splitlines()]
            assert rows and all(row["batch_id"] == b.batch_id for row in rows)
        day = git(repo, "log", "-1", "--format=%ad", "--date=short", b.commits[0]).strip()
        assert b.batch_id.startswith(day)


def test_fixups_lack_the_id_and_change_the_batch_recipes(info: messy.MessyInfo) -> None:
    repo = info.path
    differs = 0
    for b in info.batches:
        head = info.pulls[b.pulls[0]]
        for fix in b.fixups:
            assert b.batch_id not in message(repo, fix)
            assert ok(repo, "merge-base", "--is-ancestor", b.commits[0], fix)
            assert ok(repo, "merge-base", "--is-ancestor", fix, head)
            paths = changed(repo, f"{fix}^", fix)
            assert paths and set(paths) <= set(managed_carried(b))
        if b.fixups:
            paths = sorted(changed(repo, f"{b.fixups[0]}^", b.fixups[0]))
            found = blobs(repo, [f"{c}:{p}" for c in (b.commits[0], head) for p in paths])
            differs += any(found[f"{b.commits[0]}:{p}"] != found[f"{head}:{p}"] for p in paths)
    assert differs >= 5


def test_pull_refs_and_kept_branches_are_where_the_truth_says(info: messy.MessyInfo) -> None:
    repo = info.path
    refs = dict(line.split()[::-1] for line in
                git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines())
    pulls = {int(ref.split("/")[2]): oid for ref, oid in refs.items()
             if ref.startswith("refs/pull/")}
    assert pulls == info.pulls
    kept = {ref for ref in refs if ref.startswith("refs/heads/batch/")}
    assert kept == {ref for b in info.batches for ref in b.branches}
    for b in info.batches:
        assert len(b.pulls) == 1
        head = info.pulls[b.pulls[0]]
        for ref in b.branches:
            if not ref.endswith("-retry"):
                assert refs[ref] == head
        assert all(ok(repo, "merge-base", "--is-ancestor", c, head) for c in b.commits
                   if not any(r.endswith("-retry") for r in b.branches))


def test_carried_blobs_are_the_pull_request_heads(info: messy.MessyInfo) -> None:
    specs = {}
    for b in info.batches:
        head = info.pulls[b.pulls[0]]
        specs.update({f"{head}:{p}": blob for p, blob in b.carried})
    assert blobs(info.path, list(specs)) == specs
    for b in info.batches:
        assert set(b.outside) == {p for p, _ in b.carried if not CONFIG.is_managed(p)}
        assert f"data/metrics/{b.batch_id}.jsonl" in b.outside


# -- landings ------------------------------------------------------------------------------------


def test_landings_are_first_parent_commits_carrying_the_batch_blobs(
        info: messy.MessyInfo, first_parents: list[str]) -> None:
    repo = info.path
    position = {c: i for i, c in enumerate(first_parents)}
    for b in info.batches:
        mine = managed_carried(b)
        for landing in b.landings:
            assert landing.commit in position, b.batch_id
            assert landing.pull == b.pulls[0]
            assert git(repo, "log", "-1", "--format=%cn %s", landing.commit).strip() == \
                f"GitHub {landing.subject}"
            paths = changed(repo, f"{landing.commit}^1", landing.commit)
            assert set(paths) == set(landing.files) | set(landing.alongside)
            assert set(landing.files) <= set(mine)
            for p in landing.files:
                assert paths[p] == mine[p], (b.batch_id, p)
            for p in landing.alongside:
                assert p not in mine or paths[p] != mine[p]
        landed = {p for ln in b.landings for p in ln.files}
        assert set(b.unlanded) == set(mine) - landed
        assert set(b.added) | set(b.modified) | set(b.deleted) == landed


def test_landing_forms_look_as_named(info: messy.MessyInfo) -> None:
    repo = info.path
    for b in info.batches:
        pull = b.pulls[0]
        form = b.landing_form
        on_main = [ok(repo, "merge-base", "--is-ancestor", c, "main") for c in b.commits]
        assert all(on_main) if form == "merge" else not any(on_main)
        for landing in b.landings:
            text = message(repo, landing.commit)
            assert "Batch-Id" not in text and "batch_id" not in text
            # a merge names the branch (batch/<id>), as the forge writes it; squashes never
            assert form == "merge" or b.batch_id not in text
        subjects = [ln.subject for ln in b.landings]
        if form == "abandoned":
            assert not b.landings and set(b.unlanded) == set(managed_carried(b))
        elif form == "merge":
            (landing,) = b.landings
            parents = git(repo, "log", "-1", "--format=%P", landing.commit).split()
            assert parents[1] == info.pulls[pull]
            assert landing.subject.startswith(f"Merge pull request #{pull} from ")
            assert set(landing.files) == set(managed_carried(b))
        elif form == "squash-custom":
            (subject,) = subjects
            assert "(#" not in subject
        elif form == "squash-pr":
            (subject,) = subjects
            assert subject.endswith(f"(#{pull})")
        elif form == "split":
            assert 2 <= len(b.landings) <= 3 and not b.unlanded
            files = [p for ln in b.landings for p in ln.files]
            assert len(files) == len(set(files)) and all(ln.files for ln in b.landings)
        else:
            assert form == "partial"
            (landing,) = b.landings
            assert landing.files and b.unlanded


def test_added_modified_deleted_match_the_first_parent(info: messy.MessyInfo) -> None:
    specs = [f"{ln.commit}^1:{p}" for b in info.batches for ln in b.landings for p in ln.files]
    before = blobs(info.path, specs)
    for b in info.batches:
        for ln in b.landings:
            for p in ln.files:
                existed = before[f"{ln.commit}^1:{p}"] is not None
                gone = dict(b.carried)[p] is None
                kind = b.deleted if gone else b.modified if existed else b.added
                assert p in kind, (b.batch_id, p)


# -- the confusing cases -------------------------------------------------------------------------


def test_regenerated_recipes_carry_the_same_blob_in_both_batches(info: messy.MessyInfo) -> None:
    by_id = {b.batch_id: b for b in info.batches}
    regenerated = 0
    for b in info.batches:
        for path, others in b.ambiguous:
            for other in others:  # the same blob, and each batch names the other
                assert carried(by_id[other])[path] == carried(b)[path]
                assert b.batch_id in dict(by_id[other].ambiguous)[path]
            if b.landing_form == "abandoned":
                # X never landed; a later batch landed the very same blob
                regenerated += any(path in ln.files for o in others
                                   for ln in by_id[o].landings)
    assert regenerated >= 2


def test_ambiguous_landing_matches_two_pull_requests_equally(info: messy.MessyInfo) -> None:
    repo = info.path
    by_id = {b.batch_id: b for b in info.batches}
    for amb in info.ambiguous:
        assert len(amb.batch_ids) == 2
        paths = changed(repo, f"{amb.commit}^1", amb.commit)
        assert sorted(paths) == sorted(amb.files)
        for batch_id in amb.batch_ids:
            b = by_id[batch_id]
            # each pull request's whole managed change is exactly what the landing carries
            assert managed_carried(b) == {p: paths[p] for p in amb.files}
            assert not any(ok(repo, "merge-base", "--is-ancestor", c, "main") for c in b.commits)


def test_stacked_squash_carries_only_the_persons_files(info: messy.MessyInfo,
                                                       first_parents: list[str]) -> None:
    repo = info.path
    by_id = {b.batch_id: b for b in info.batches}
    position = {c: i for i, c in enumerate(first_parents)}
    for s in info.stacked:
        b = by_id[s.batch_id]
        head = info.pulls[s.pull]
        assert head == s.head
        assert git(repo, "rev-parse", f"{head}^").strip() == info.pulls[b.pulls[0]]
        assert ok(repo, "merge-base", "--is-ancestor", b.commits[0], head)
        assert position[s.squash] > max(position[ln.commit] for ln in b.landings)
        paths = changed(repo, f"{s.squash}^1", s.squash)
        assert sorted(paths) == list(s.files) and s.files
        assert paths == changed(repo, f"{head}^", head)
        mine = managed_carried(b)
        assert all(mine.get(p) != blob for p, blob in paths.items())
        assert all(s.squash != ln.commit for ln in b.landings)


def test_mechanical_commits_touch_many_batches(info: messy.MessyInfo,
                                               first_parents: list[str]) -> None:
    repo = info.path
    owners: dict[str, set[str]] = {}
    for b in info.batches:
        for ln in b.landings:
            for p in ln.files:
                owners.setdefault(p, set()).add(b.batch_id)
    for commit in info.mechanical_commits:
        assert commit in first_parents
        paths = [p for p in changed(repo, f"{commit}^", commit) if CONFIG.is_managed(p)]
        assert len(paths) >= messy.MECHANICAL_FILES
        assert len({o for p in paths for o in owners.get(p, ())}) >= 5
        author = git(repo, "log", "-1", "--format=%an", commit).strip()
        assert author != "registry-bot"
    recorded = {(p, c) for b in info.batches for p, c in b.mechanical_edits}
    assert {c for _, c in recorded} <= set(info.mechanical_commits)


def test_later_edits_and_hand_deletions_happened_after_the_landing(
        info: messy.MessyInfo, first_parents: list[str], deleted_on_main: dict[str, set[str]]
        ) -> None:
    repo = info.path
    position = {c: i for i, c in enumerate(first_parents)}
    landings = {ln.commit for b in info.batches for ln in b.landings}
    mechanical = set(info.mechanical_commits)
    edits = [(p, c) for b in info.batches for p, c in b.later_edits]
    # every recorded edit changes its path: the blob differs from the one just before
    found = blobs(repo, [f"{c}:{p}" for p, c in edits] + [f"{c}^:{p}" for p, c in edits])
    assert all(found[f"{c}:{p}"] != found[f"{c}^:{p}"] for p, c in edits)
    for b in info.batches:
        landed_at = {p: position[ln.commit] for ln in b.landings for p in ln.files}
        for p, commit in b.later_edits:
            assert commit not in landings and commit not in mechanical
            assert position[commit] > landed_at[p]
        for p, commit in b.mechanical_edits:
            assert position[commit] > landed_at[p] and commit in mechanical
        for p in b.hand_deleted:
            assert any(q == p and p in deleted_on_main.get(c, ()) for q, c in b.later_edits)
    assert sum(len(b.hand_deleted) for b in info.batches) >= 2
    assert git(repo, "log", "-1", "--format=%s", next(
        c for p, c in edits if "Remove broken recipes" in message(repo, c)
        and p in deleted_on_main.get(c, ()))).strip() == "Remove broken recipes"


def test_readded_recipes_were_deleted_by_hand_first(info: messy.MessyInfo) -> None:
    by_id = {b.batch_id: b for b in info.batches}
    for path, origin, readder in info.readded:
        assert path in by_id[origin].hand_deleted
        assert path in by_id[readder].added


def test_protected_and_dependents_hold_at_the_tip(info: messy.MessyInfo) -> None:
    root = info.path
    docs = {}
    for file in (root / "recipes").rglob("*.toml"):
        docs[file.relative_to(root).as_posix()] = tomllib.loads(file.read_text())

    def provided(doc):
        meta = doc["metadata"]
        satisfies = meta.get("satisfies", {}).values()
        return {meta["name"], *meta.get("aliases", []), *(n for v in satisfies for n in v)}

    def needs(doc):
        meta = doc["metadata"]
        steps = [d for step in doc.get("steps", []) for d in step.get("dependencies", [])]
        return {*meta["dependencies"], *meta["runtime_dependencies"], *steps}

    assert any("satisfies" in d["metadata"] for d in docs.values())
    assert any("aliases" in d["metadata"] for d in docs.values())
    many = 0
    for b in info.batches:
        for p in b.protected:
            assert docs[p]["metadata"]["curated"] is True
        names = set().union(*(provided(docs[p]) for p in b.added if p in docs))
        for p in b.dependents_outside:
            assert p not in dict(b.carried) and needs(docs[p]) & names, (b.batch_id, p)
        many += len(b.dependents_outside) >= 10
    assert many >= 2
    # satisfies names are used as dependencies somewhere
    every = {n for d in docs.values() for n in needs(d)}
    via = {n for d in docs.values() for v in d["metadata"].get("satisfies", {}).values()
           for n in v}
    assert every & via


def test_missing_object_refs_really_miss_an_object(info: messy.MessyInfo) -> None:
    repo = info.path
    assert len(info.missing_objects) >= 2
    kinds = set()
    for ref, absent in info.missing_objects:
        assert ref in info.missing_object_refs
        commit = git(repo, "rev-parse", "--verify", ref).strip()
        assert info.pulls[int(ref.split("/")[2])] == commit
        assert not ok(repo, "cat-file", "-e", absent)
        assert not ok(repo, "rev-list", "--objects", ref)
        kinds.add("tree" if git(repo, "cat-file", "-p", commit).startswith(f"tree {absent}")
                  else "parent")
    assert kinds == {"tree", "parent"}
    # everything else is whole
    others = [r for r in git(repo, "for-each-ref", "--format=%(refname)").split()
              if r not in info.missing_object_refs]
    assert ok(repo, "rev-list", "--objects", "--quiet", *others)


def test_duplicate_branches_add_the_same_path_or_carry_the_same_id(info: messy.MessyInfo) -> None:
    repo = info.path
    same_id = same_path = 0
    for group in info.duplicate_branches:
        assert len(group) >= 2
        assert not any(ok(repo, "merge-base", "--is-ancestor", ref, "main") for ref in group)
        ids = {trailer(repo, ref, "Batch-Id") or message(repo, ref).strip().split()[-1]
               for ref in group}
        if all(ref.startswith("refs/heads/batch/") for ref in group):
            assert len(ids) == 1 and ID.match(ids.pop())
            same_id += 1
            continue
        added = [changed(repo, f"{ref}^", ref) for ref in group]
        assert all(len(a) == 1 for a in added)
        assert len({next(iter(a)) for a in added}) == 1
        assert len({next(iter(a.values())) for a in added}) == len(group)  # different content
        same_path += 1
    assert same_id >= 1 and same_path >= 2


def test_later_and_mechanical_edits_are_complete(info: messy.MessyInfo,
                                                 main_changes: dict[str, dict[str, bool]]
                                                 ) -> None:
    """Walking main after each landing finds exactly the recorded edits: every commit that
    changes the path, up to and including one that deletes it (the batch's claim ends there)."""
    order = list(main_changes)
    position = {c: i for i, c in enumerate(order)}
    landings = {ln.commit for b in info.batches for ln in b.landings}
    mechanical = set(info.mechanical_commits)
    touching: dict[str, list[str]] = {}
    for commit, paths in main_changes.items():
        for p in paths:
            touching.setdefault(p, []).append(commit)
    for b in info.batches:
        later: set[tuple[str, str]] = set()
        mech: set[tuple[str, str]] = set()
        for ln in b.landings:
            for p in ln.files:
                if main_changes[ln.commit][p]:
                    continue  # the batch deleted it: nothing left to edit
                for commit in touching[p]:
                    if position[commit] <= position[ln.commit]:
                        continue
                    if commit in mechanical:
                        mech.add((p, commit))
                    elif commit not in landings:
                        later.add((p, commit))
                    if main_changes[commit][p]:
                        break
        assert later == set(b.later_edits), b.batch_id
        assert mech == set(b.mechanical_edits), b.batch_id


def test_dependents_and_protected_are_complete(info: messy.MessyInfo) -> None:
    root = info.path
    docs = {f.relative_to(root).as_posix(): tomllib.loads(f.read_text())
            for f in (root / "recipes").rglob("*.toml")}

    def provided(doc):
        meta = doc["metadata"]
        satisfies = meta.get("satisfies", {}).values()
        return {meta["name"], *meta.get("aliases", []), *(n for v in satisfies for n in v)}

    def needs(doc):
        meta = doc["metadata"]
        steps = [d for step in doc.get("steps", []) for d in step.get("dependencies", [])]
        return {*meta["dependencies"], *meta["runtime_dependencies"], *steps}

    for b in info.batches:
        own = dict(b.carried)
        owned = [p for p in b.added if p in docs and p not in b.hand_deleted]
        names = set().union(*(provided(docs[p]) for p in owned))
        expected = {q for q, doc in docs.items() if q not in own and needs(doc) & names}
        assert expected == set(b.dependents_outside), b.batch_id
        landed = {p for ln in b.landings for p in ln.files}
        curated = {p for p in landed if p in docs and p not in b.hand_deleted
                   and docs[p]["metadata"].get("curated") is True}
        assert curated == set(b.protected), b.batch_id
