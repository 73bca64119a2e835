"""Whole-process runs of `git batch`: exit codes, messages, index == git."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from gitops.cli.main import main_group
from tests.conftest import Repo, cli_env, git_batch

B1 = "2026-03-03-001"


def run(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return git_batch(repo, *args, stdin=stdin)


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit(f"add alpha\n\nBatch-Id: {B1}\nBatch-Ecosystem: cargo\n",
                {"recipes/a/alpha.toml": "x\n", "batch-control.json": "{}\n"})
    repo.commit("human\n", {"recipes/a/alpha.toml": "y\n"})
    return repo


def index_dir(repo: Repo) -> Path:
    return repo.path / ".git" / "git-batch"


def test_show_from_the_index_equals_show_from_git(registry: Repo) -> None:
    first = run(registry.path, "show", B1, "--json")  # no index yet: asks git directly
    assert first.returncode == 0, first.stderr
    assert not index_dir(registry).exists()
    assert run(registry.path, "index").returncode == 0
    warm = run(registry.path, "show", B1, "--json")  # answered by the index
    cold = run(registry.path, "show", B1, "--json", "--no-index")
    assert json.loads(first.stdout) == json.loads(warm.stdout) == json.loads(cold.stdout)
    doc = json.loads(warm.stdout)
    assert doc["commits"][0]["oid"] == registry.head("HEAD~1")
    assert doc["outside_scope"] == ["batch-control.json"]
    assert list(doc["later_edits"]) == ["recipes/a/alpha.toml"]


def test_list_text_and_json(registry: Repo) -> None:
    text = run(registry.path, "list")
    assert text.returncode == 0
    assert B1 in text.stdout and "cargo" in text.stdout
    doc = json.loads(run(registry.path, "list", "--json").stdout)
    assert [b["batch_id"] for b in doc["batches"]] == [B1]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("show", "2026-03-03"), 2, "does not match the id pattern"),
        (("show", "--", "-rf"), 2, "must not be empty or start with '-'"),
        (("show", "2026-03-03-001\x1b"), 2, "control characters"),
        (("show", "2026-03-03-002"), 7, f"did you mean {B1}"),
        (("--base", "nope", "show", B1), 6, "base branch 'nope' does not exist"),
        (("--base=-x", "show", B1), 5, "repo.base_branch"),
        (("--config", "missing.toml", "list"), 5, "configuration file not found"),
    ],
)
def test_bad_input_exit_codes_and_nothing_written(registry: Repo, args: tuple[str, ...],
                                                  code: int, needle: str) -> None:
    res = run(registry.path, *args)
    assert res.returncode == code, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3
    if code != 7:
        assert not index_dir(registry).exists()


def test_broken_config_names_file_and_key(registry: Repo) -> None:
    (registry.path / ".git-batch.toml").write_text("[paths]\nmanaged = 'recipes/**'\n")
    res = run(registry.path, "list")
    assert res.returncode == 5
    assert ".git-batch.toml: key 'paths.managed' must be a list" in res.stderr
    (registry.path / ".git-batch.toml").write_text("[paths\n")
    res = run(registry.path, "list")
    assert res.returncode == 5
    assert "not valid TOML" in res.stderr


def test_not_a_repository(tmp_path: Path) -> None:
    res = run(tmp_path, "list")
    assert res.returncode == 6
    assert "not a git repository" in res.stderr


def test_shallow_clone_says_what_is_missing(registry: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    subprocess.run(("git", "clone", "-q", "--depth=1", f"file://{registry.path}", str(clone)),
                   check=True)
    res = run(clone, "show", B1)
    assert res.returncode == 6
    assert "shallow" in res.stderr and "--unshallow" in res.stderr


def test_working_tree_index_and_head_untouched(registry: Repo) -> None:
    (registry.path / "recipes/a/alpha.toml").write_text("uncommitted\n")
    registry.git("add", "recipes/a/alpha.toml")
    (registry.path / "untracked.txt").write_text("u\n")
    before = (registry.git("status", "--porcelain=v2", "--branch"),
              (registry.path / ".git/index").read_bytes())
    for args in (("list",), ("show", B1), ("index", "--rebuild"), ("show", B1, "--no-index")):
        assert run(registry.path, *args).returncode == 0
    after = (registry.git("status", "--porcelain=v2", "--branch"),
             (registry.path / ".git/index").read_bytes())
    assert before == after


def test_trailer_add_stdin_and_in_place(registry: Repo, tmp_path: Path) -> None:
    res = run(registry.path, "trailer", "add", B1, stdin="subject\n\nbody\n")
    assert res.returncode == 0
    assert res.stdout == f"subject\n\nbody\n\nBatch-Id: {B1}\n"
    msg = tmp_path / "COMMIT_EDITMSG"
    msg.write_text("subject\n")
    assert run(registry.path, "trailer", "add", B1, "--in-place", str(msg)).returncode == 0
    assert msg.read_text() == f"subject\n\nBatch-Id: {B1}\n"
    bad = run(registry.path, "trailer", "add", "nope", stdin="x\n")
    assert bad.returncode == 2


def test_index_command_reports(registry: Repo) -> None:
    res = run(registry.path, "index", "--json")
    assert res.returncode == 0
    doc = json.loads(res.stdout)
    assert doc["batches"] == 1 and doc["commits"] == 3


def test_every_command_help_has_an_example() -> None:
    def walk(group: click.Command, prefix: str) -> list[tuple[str, click.Command]]:
        out: list[tuple[str, click.Command]] = []
        if not isinstance(group, click.Group):
            return out
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None, name
            out.append((f"{prefix} {name}", cmd))
            out += walk(cmd, f"{prefix} {name}")
        return out

    for name, cmd in walk(main_group, "git batch"):
        text = cmd.help or ""  # type: ignore[attr-defined]
        assert "Example:" in text, f"{name} --help lacks an Example: block"
        assert not text.splitlines()[0].endswith("."), f"{name}: help line ends with a period"


def test_answers_follow_every_input(registry: Repo) -> None:
    """The index never gives a stale answer: new commits, settings, pull refs, environment."""
    assert run(registry.path, "index").returncode == 0
    first = run(registry.path, "show", B1, "--json").stdout
    assert run(registry.path, "show", B1, "--json").stdout == first
    registry.commit(f"more\n\nBatch-Id: {B1}\n", {"recipes/b/beta.toml": "b\n"})
    after_commit = json.loads(run(registry.path, "show", B1, "--json").stdout)
    assert len(after_commit["commits"]) == 2
    (registry.path / ".git-batch.toml").write_text('[paths]\nmanaged = ["nothing/**"]\n')
    after_config = json.loads(run(registry.path, "show", B1, "--json").stdout)
    assert after_config["files"]["added"] == []
    registry.git("update-ref", "refs/pull/9/head", registry.head())
    after_pull = run(registry.path, "show", B1, "--json")
    assert after_pull.returncode == 0 and json.loads(after_pull.stdout) == after_config
    env_changed = subprocess.run(
        ("git", "batch", "show", B1, "--json"), cwd=registry.path, capture_output=True,
        text=True, env=cli_env({"GIT_BATCH_BASE_BRANCH": "HEAD~1"}),
    )
    assert len(json.loads(env_changed.stdout)["commits"]) == 1


def test_show_after_new_commits_updates_the_index(registry: Repo) -> None:
    """New commits on the base are appended to the index, not rebuilt from scratch."""
    assert run(registry.path, "index").returncode == 0
    (index,) = index_dir(registry).glob("index-*.sqlite")
    inode = index.stat().st_ino
    registry.commit(f"more\n\nBatch-Id: {B1}\n", {"recipes/b/beta.toml": "b\n"})
    res = run(registry.path, "show", B1, "--json")
    assert res.returncode == 0, res.stderr
    assert [c["subject"] for c in json.loads(res.stdout)["commits"]] == ["add alpha", "more"]
    assert index.stat().st_ino == inode  # updated in place: a rebuild replaces the file


def test_demo_messy_builds_a_registry_every_command_reads(tmp_path: Path) -> None:
    target = tmp_path / "messy"
    made = run(tmp_path, "demo", "--messy", str(target), "--commits", "1000", "--seed", "3")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"Created a messy registry in {target}: branch main, ")
    commands = [line.split("#")[0].strip() for line in made.stdout.splitlines()
                if line.startswith("  git batch ")]
    assert any(c.startswith("git batch revert ") for c in commands)
    for command in commands:  # every suggested command runs; none crashes on the messy refs
        done = run(target, *command.split()[2:])
        assert done.returncode in (0, 11, 12, 16, 17), (command, done.stderr)
        assert "Traceback" not in done.stderr
