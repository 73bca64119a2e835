"""The sample-registry generator: deterministic, well-formed, and its ground truth matches git."""

from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gitops import demo
from gitops.config import CONFIG_FILENAME, Config, parse_config_text
from gitops.errors import UsageError
from gitops.ops import gate, status

ID = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{3}$")


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def is_ancestor(repo: Path, a: str, b: str) -> bool:
    proc = subprocess.run(("git", "merge-base", "--is-ancestor", a, b), cwd=repo)
    return proc.returncode == 0


@contextmanager
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An isolated git environment for module-scoped fixtures (the autouse one is per test)."""
    home = tmp_path_factory.mktemp("demo-home")
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
def info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoInfo]:
    """The default demo, built once for the module in an isolated git environment."""
    with isolated(tmp_path_factory):
        yield demo.generate(tmp_path_factory.mktemp("demo") / "registry")


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoInfo]:
    """What `git batch demo` builds: the default demo plus the operator and the ops branch."""
    with isolated(tmp_path_factory):
        yield demo.generate(tmp_path_factory.mktemp("demo") / "registry", operator=True)


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname) %(refname)")


def messages(repo: Path, rev: str = "main") -> dict[str, str]:
    out = git(repo, "log", "--format=%H%x00%B%x1e", rev)
    pairs = (chunk.strip("\n").split("\0", 1) for chunk in out.split("\x1e") if chunk.strip())
    return {oid: body for oid, body in pairs}


def trailer_ids(repo: Path, rev: str = "main") -> dict[str, str]:
    """Commit -> Batch-Id, as git's own trailer parser reads it."""
    out = git(repo, "log", "--format=%H %(trailers:key=Batch-Id,valueonly,separator=%x2C)", rev)
    return {oid: value for oid, _, value in (line.partition(" ") for line in out.splitlines())
            if value}


def legacy_id(body: str) -> str | None:
    last = body.strip().split("\n\n")[-1]
    found = [m.group(1) for m in re.finditer(r"^batch_id: (\S+)$", last, re.MULTILINE)]
    return found[0] if len(found) == 1 and ID.match(found[0]) else None


# -- shape ---------------------------------------------------------------------------------


def test_generate_default_has_exact_commit_count_clean_tree_and_fsck(info: demo.DemoInfo) -> None:
    repo = info.path
    assert info.commits == demo.DEFAULT_COMMITS
    assert git(repo, "rev-list", "--count", "main").strip() == str(demo.DEFAULT_COMMITS)
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "fsck", "--strict", "--no-progress")


def test_generate_is_deterministic_per_seed(info: demo.DemoInfo, tmp_path: Path) -> None:
    again = demo.generate(tmp_path / "again")
    other = demo.generate(tmp_path / "other", seed=8)
    assert refs(again.path) == refs(info.path)
    assert git(again.path, "rev-list", "main") == git(info.path, "rev-list", "main")
    assert again.batches == info.batches
    assert git(other.path, "rev-list", "main") != git(info.path, "rev-list", "main")


def test_generate_minimum_size_and_bare(tmp_path: Path) -> None:
    small = demo.generate(tmp_path / "small", commits=demo.MIN_COMMITS, bare=True)
    assert git(small.path, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(small.path, "rev-list", "--count", "main").strip() == str(demo.MIN_COMMITS)
    assert not (small.path / "recipes").exists()
    assert [b.form for b in small.batches] == [b.form for b in demo_forms()]


def demo_forms() -> list[demo.DemoBatch]:
    forms = ("trailer", "legacy", "pull-request", "merge", "trailer", "trailer")
    return [demo.DemoBatch("", f, "", (), (), (), (), (), (), None) for f in forms]


@pytest.mark.parametrize(
    ("setup", "commits", "words"),
    [
        ("file", 120, "is a file"),
        ("nonempty", 120, "not empty"),
        ("none", 59, "at least 60"),
    ],
)
def test_generate_refuses_bad_targets(tmp_path: Path, setup: str, commits: int, words: str
                                      ) -> None:
    target = tmp_path / "target"
    if setup == "file":
        target.write_text("x")
    elif setup == "nonempty":
        target.mkdir()
        (target / "keep").write_text("x")
    with pytest.raises(UsageError, match=words) as exc:
        demo.generate(target, commits=commits)
    assert exc.value.hint
    assert setup != "none" or not target.exists()


def test_generate_into_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert demo.generate(tmp_path / "empty", commits=60).commits == 60


# -- the named batches ---------------------------------------------------------------------


def test_default_demo_has_the_named_batches(info: demo.DemoInfo) -> None:
    forms = [b.form for b in info.batches]
    assert forms == ["trailer", "legacy", "pull-request", "merge", "trailer", "trailer"]
    ids = [b.batch_id for b in info.batches]
    assert len(set(ids)) == len(ids)
    assert all(ID.match(i) for i in ids)
    assert ids == sorted(ids)
    assert {b.ecosystem for b in info.batches} == set(demo.ECOSYSTEMS)
    first, legacy, squashed, merged, deleting, latest = info.batches
    assert len(first.commits) == 4 and first.added and first.modified and first.later_edited
    assert legacy.later_edited
    assert squashed.pull == 17 and len(squashed.commits) == 1
    assert merged.pull == 21 and merged.later_edited
    assert deleting.deleted and not deleting.added
    assert latest.added
    assert all(b.outside and all(not p.startswith("recipes/") for p in b.outside)
               for b in info.batches)


def test_batch_commits_match_what_git_reads(info: demo.DemoInfo) -> None:
    repo = info.path
    bodies = messages(repo)
    by_trailer = trailer_ids(repo)
    for b in info.batches:
        if b.form in ("trailer", "merge"):
            assert sorted(c for c, i in by_trailer.items() if i == b.batch_id) == sorted(b.commits)
        elif b.form == "legacy":
            carriers = [c for c, body in bodies.items() if legacy_id(body) == b.batch_id]
            assert sorted(carriers) == sorted(b.commits)
            assert not any(i == b.batch_id for i in by_trailer.values())
            # The prose mention of the id is no batch commit.
            prose = [c for c, body in bodies.items()
                     if f"batch_id: {b.batch_id} (see discussion)" in body]
            assert len(prose) == 1 and prose[0] not in b.commits
        else:
            (squash,) = b.commits
            assert bodies[squash].startswith(f"Add cargo recipes (#{b.pull})")
            assert squash not in by_trailer
            assert git(repo, "log", "-1", "--format=%cn <%ce>", squash).strip() == (
                "GitHub <noreply@github.com>")
    # A human commit names a date prefix of the ids in its text.
    day = info.batches[0].batch_id[:10]
    assert any(f"auditing the {day} bot runs" in body for body in bodies.values())


def test_pull_request_and_merge_refs(info: demo.DemoInfo) -> None:
    repo = info.path
    squashed = next(b for b in info.batches if b.form == "pull-request")
    pr = f"refs/pull/{squashed.pull}/head"
    assert not is_ancestor(repo, pr, "main")
    pr_commits = git(repo, "rev-list", pr, "^main").split()
    assert 2 <= len(pr_commits) <= 3
    ids = trailer_ids(repo, pr)
    assert {ids.get(c) for c in pr_commits} <= {squashed.batch_id, None}
    assert ids.get(pr_commits[-1]) == squashed.batch_id  # the oldest carries the trailer
    # The squash's tree change is the PR's net change.
    base = git(repo, "merge-base", pr, "main").strip()
    pr_diff = git(repo, "diff", "--name-status", base, pr)
    squash_diff = git(repo, "diff", "--name-status", f"{squashed.commits[0]}^",
                      squashed.commits[0])
    assert pr_diff == squash_diff

    merged = next(b for b in info.batches if b.form == "merge")
    merge = git(repo, "log", "--merges", "--format=%H %P%x00%s", "main").strip()
    (line,) = merge.splitlines()
    oids, subject = line.split("\0")
    _, _, second = oids.split()
    assert subject == f"Merge batch {merged.batch_id} (#{merged.pull})"
    assert second == git(repo, "rev-parse", f"refs/pull/{merged.pull}/head").strip()
    assert second == merged.commits[-1]


def test_inflight_refs_are_unmerged_except_one(info: demo.DemoInfo) -> None:
    repo = info.path
    assert len(info.inflight) == 5
    merged = [ref for ref in info.inflight if is_ancestor(repo, ref, "main")]
    assert merged == ["refs/heads/docs/readme-refresh"]
    assert all(what for what in info.inflight.values())
    latest = info.batches[-1]
    open_branch = next(ref for ref in info.inflight if ref.startswith("refs/heads/batch/"))
    open_id = open_branch.removeprefix("refs/heads/batch/")
    assert open_id not in {b.batch_id for b in info.batches}
    assert set(trailer_ids(repo, f"main..{open_branch}").values()) == {open_id}
    assert git(repo, "rev-parse", "refs/pull/30/head") == git(repo, "rev-parse", open_branch)
    fix = next(ref for ref in info.inflight if ref.startswith("refs/heads/fix/"))
    touched = git(repo, "diff", "--name-only", "main", fix).split()
    assert touched and set(touched) <= set(latest.added)


# -- recipes -------------------------------------------------------------------------------


def dependency_names(doc: dict[str, Any]) -> set[str]:
    meta = doc["metadata"]
    names = set(meta.get("dependencies", [])) | set(meta.get("runtime_dependencies", []))
    for step in doc.get("steps", []):
        names |= set(step.get("dependencies", []))
    return names


def test_recipes_parse_and_dependencies_resolve(info: demo.DemoInfo) -> None:
    repo = info.path
    docs = {}
    for path in sorted((repo / "recipes").rglob("*.toml")):
        doc = tomllib.loads(path.read_text())
        name = doc["metadata"]["name"]
        assert path.name == f"{name}.toml" and path.parent.name == name[0]
        assert {"version", "description", "dependencies", "runtime_dependencies"} <= set(
            doc["metadata"])
        assert all("action" in step for step in doc["steps"])
        docs[name] = doc
    for name, doc in docs.items():
        missing = dependency_names(doc) - set(docs)
        assert not missing, f"{name} depends on missing {missing}"
    assert any(doc["metadata"].get("curated") for doc in docs.values())
    assert any(doc["metadata"].get("aliases") for doc in docs.values()) or len(docs) < 50
    # A person's recipe on main depends on a recipe a batch added.
    batch_added = {Path(p).stem for b in info.batches for p in b.added}
    assert dependency_names(docs["delta"]) & batch_added
    # The in-flight add/ branch adds a recipe depending on one the latest batch added.
    add = next(ref for ref in info.inflight if ref.startswith("refs/heads/add/"))
    (new_path,) = git(repo, "diff", "--name-only", "main", add).split()
    new_doc = tomllib.loads(git(repo, "show", f"{add}:{new_path}"))
    latest_added = {Path(p).stem for p in info.batches[-1].added}
    assert dependency_names(new_doc) & latest_added
    assert dependency_names(new_doc) <= set(docs)


def test_config_file_is_the_defaults(info: demo.DemoInfo) -> None:
    path = info.path / CONFIG_FILENAME
    cfg = parse_config_text(path.read_text(), str(path))
    defaults = Config()
    assert cfg.repo.base_branch == "main"
    assert (cfg.batch, cfg.paths, cfg.recipes, cfg.ops) == (
        defaults.batch, defaults.paths, defaults.recipes, defaults.ops)
    assert cfg.repo.inflight_refs == defaults.repo.inflight_refs


# -- ground truth against git --------------------------------------------------------------


def blob_ids(repo: Path, specs: list[str]) -> list[str | None]:
    out = git(repo, "cat-file", "--batch-check=%(objectname)", stdin="".join(
        f"{s}\n" for s in specs))
    return [None if line.endswith("missing") else line for line in out.splitlines()]


def truth_from_git(repo: Path, b: demo.DemoBatch) -> dict[str, tuple[str, ...]]:
    """Recompute a batch's net changes and later edits with git alone."""
    if b.form == "pull-request":
        (squash,) = b.commits
        rows = [line.split("\t") for line in git(
            repo, "diff-tree", "-r", "--no-commit-id", "--name-status", f"{squash}^", squash
        ).splitlines()]
        status = {path: st for st, path in rows}
        touched = list(status)
    else:
        first_touch: dict[str, str] = {}
        last_touch: dict[str, str] = {}
        for c in b.commits:
            for path in git(repo, "diff-tree", "-r", "--no-commit-id", "--name-only",
                            f"{c}^1", c).split():
                first_touch.setdefault(path, c)
                last_touch[path] = c
        touched = list(first_touch)
        pre = blob_ids(repo, [f"{first_touch[p]}^1:{p}" for p in touched])
        post = blob_ids(repo, [f"{last_touch[p]}:{p}" for p in touched])
        status = {}
        for p, a, z in zip(touched, pre, post, strict=True):
            if a is None and z is not None:
                status[p] = "A"
            elif a is not None and z is None:
                status[p] = "D"
            elif a is not None and a != z:
                status[p] = "M"
    managed = [p for p in touched if p.startswith("recipes/")]
    log = git(repo, "log", "--format=%x00%H", "--name-only", f"{b.commits[0]}..main", "--",
              *managed) if managed else ""
    later: set[str] = set()
    for chunk in log.split("\0")[1:]:
        oid, *paths = chunk.split()
        if oid not in b.commits:
            later.update(paths)
    return {
        "added": tuple(sorted(p for p in managed if status.get(p) == "A")),
        "modified": tuple(sorted(p for p in managed if status.get(p) == "M")),
        "deleted": tuple(sorted(p for p in managed if status.get(p) == "D")),
        "outside": tuple(sorted(p for p in touched if not p.startswith("recipes/"))),
        "later_edited": tuple(sorted(later)),
    }


def test_ground_truth_matches_git(info: demo.DemoInfo) -> None:
    for b in info.batches:
        got = {k: getattr(b, k) for k in ("added", "modified", "deleted", "outside",
                                          "later_edited")}
        assert got == truth_from_git(info.path, b), b.batch_id


def test_ground_truth_edge_cases(info: demo.DemoInfo) -> None:
    repo = info.path
    first = info.batches[0]
    # exa is added and deleted inside the first batch: in none of the lists.
    touched = git(repo, "log", "--format=", "--name-only", *first.commits, "--no-walk")
    assert "recipes/e/exa.toml" in touched.split()
    assert all("recipes/e/exa.toml" not in getattr(first, k)
               for k in ("added", "modified", "deleted", "later_edited"))
    # A human edit between the batch's own commits counts as a later edit.
    between = git(repo, "rev-list", f"{first.commits[0]}..{first.commits[-1]}").split()
    humans = [c for c in between if c not in first.commits]
    edited = set(git(repo, "show", "--format=", "--name-only", *humans).split())
    assert edited & set(first.later_edited)


# -- larger histories and the summary ------------------------------------------------------


def test_generate_5000_commits_spreads_batches_of_every_form(tmp_path: Path) -> None:
    start = time.perf_counter()
    info = demo.generate(tmp_path / "big", commits=5000, seed=3, bare=True)
    elapsed = time.perf_counter() - start
    repo = info.path
    assert git(repo, "rev-list", "--count", "main").strip() == "5000"
    ids = [b.batch_id for b in info.batches]
    assert len(ids) == len(set(ids)) >= 12
    assert {b.form for b in info.batches} == {"trailer", "legacy", "pull-request", "merge"}
    for form in ("legacy", "pull-request", "merge"):
        b = next(b for b in info.batches if b.form == form)
        got = {k: getattr(b, k) for k in ("added", "modified", "deleted", "outside",
                                          "later_edited")}
        assert got == truth_from_git(repo, b), b.batch_id
    recipes = git(repo, "ls-tree", "-r", "--name-only", "main", "--", "recipes").split()
    assert 400 <= len(recipes) <= 900
    assert elapsed < 10


def test_describe_names_batches_refs_and_next_commands(info: demo.DemoInfo) -> None:
    text = demo.describe(info)
    assert str(info.path) in text and f"{info.commits} commits" in text
    for b in info.batches:
        assert b.batch_id in text
    for ref in info.inflight:
        assert ref in text
    latest = info.batches[-1].batch_id
    for command in ("git batch list", "git batch show ", f"git batch revert {latest} --dry-run",
                    f"git batch inflight {latest}"):
        assert command in text


# -- the operator of `git batch demo` (issue 8) ---------------------------------------------------


def test_operator_demo_keeps_the_deterministic_history(info: demo.DemoInfo,
                                                       operated: demo.DemoInfo) -> None:
    """Everything but the last commit of main (a fresh key) is the seed's deterministic demo."""
    repo = operated.path
    assert git(repo, "rev-list", "main^") == git(info.path, "rev-list", "main")
    assert operated.batches == info.batches and operated.inflight == info.inflight
    assert operated.commits == info.commits + 1
    assert git(repo, "rev-list", "--count", "main").strip() == str(operated.commits)
    plain = {line.split()[1]: line.split()[0] for line in refs(info.path).splitlines()}
    ours = {line.split()[1]: line.split()[0] for line in refs(repo).splitlines()}
    assert {ref: oid for ref, oid in ours.items() if ref in plain and ref != "refs/heads/main"} \
        == {ref: oid for ref, oid in plain.items() if ref != "refs/heads/main"}


def test_operator_commit_lists_only_the_new_key(operated: demo.DemoInfo) -> None:
    repo, op = operated.path, operated.operator
    assert op is not None and op.principal == "operator@demo.invalid"
    assert git(repo, "rev-parse", "main").strip() == op.signers_commit
    assert git(repo, "diff-tree", "--no-commit-id", "--name-status", "-r", "main").split() == [
        "A", ".git-batch/allowed_signers"]
    assert git(repo, "log", "-1", "--format=%an <%ae>", "main").strip() == (
        "Registry Admin <admin@registry.example>")
    kind, key = op.key.with_suffix(".pub").read_text().split()[:2]
    assert (repo / ".git-batch" / "allowed_signers").read_text() == (
        f"operator@demo.invalid {kind} {key}\n")


def test_operator_key_stays_in_the_git_dir_and_this_repository(operated: demo.DemoInfo) -> None:
    repo, op = operated.path, operated.operator
    assert op is not None
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    assert op.key.parent == git_dir / "git-batch-demo"
    assert op.key.stat().st_mode & 0o777 == 0o600
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    local = git(repo, "config", "--local", "--list")
    for line in ("user.name=Demo Operator", "user.email=operator@demo.invalid",
                 "gpg.format=ssh", f"user.signingkey={op.key}",
                 f"remote.origin.url={op.remote}"):
        assert line in local.splitlines()


def test_operator_demo_has_a_trusted_ops_branch_on_origin(operated: demo.DemoInfo) -> None:
    from gitops.context import load_context  # noqa: PLC0415

    repo, op = operated.path, operated.operator
    assert op is not None
    remote = git(repo, "ls-remote", "origin").split()
    assert dict(zip(remote[1::2], remote[::2], strict=True)) == {
        "HEAD": op.signers_commit, "refs/heads/main": op.signers_commit,
        "refs/heads/batch-ops": op.ops_tip}
    report = status.status(load_context(str(repo), None, None, {}))
    assert report.view.trust.trusted and report.view.tip == op.ops_tip
    assert report.view.trust.tip_principal == "operator@demo.invalid"
    decided = gate.gate(load_context(str(repo), None, None, {}), ecosystem="npm",
                        stage="merge", fetch="origin")
    assert decided.decision.can_proceed


def test_describe_names_the_operator(operated: demo.DemoInfo) -> None:
    op = operated.operator
    assert op is not None
    text = demo.describe(operated)
    assert f"{operated.commits} commits" in text
    for what in (op.principal, str(op.key), op.ops_tip[:10], op.signers_commit[:10],
                 "git batch status --text", "--push origin"):
        assert what in text


def test_operator_in_a_bare_demo_leaves_the_global_config_alone(tmp_path: Path) -> None:
    global_config = Path(os.environ["HOME"]) / ".gitconfig"
    before = global_config.read_text()
    info = demo.generate(tmp_path / "bare.git", commits=demo.MIN_COMMITS, bare=True,
                         operator=True)
    assert global_config.read_text() == before
    assert info.operator is not None
    assert info.operator.key.parent == tmp_path / "bare.git" / "git-batch-demo"
    assert git(info.path, "rev-parse", "batch-ops").strip() == info.operator.ops_tip


def test_operator_needs_ssh_keygen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo.shutil, "which", lambda _name: None)
    with pytest.raises(UsageError, match="ssh-keygen") as exc:
        demo.generate(tmp_path / "registry", operator=True)
    assert exc.value.hint
    assert not (tmp_path / "registry").exists()
