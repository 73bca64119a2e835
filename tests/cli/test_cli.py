"""Whole-process runs of `git batch`: exit codes, messages, fast path == full path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import config, warm
from gitops.cli import main_group
from tests.conftest import Repo, cli_env, git_batch

B1 = "2026-03-03-001"


def run(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return git_batch(repo, *args, stdin=stdin)


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit(f"add alpha\n\nBatch-Id: {B1}\nEcosystem: cargo\n",
                {"recipes/a/alpha.toml": "x\n", "batch-control.json": "{}\n"})
    repo.commit("human\n", {"recipes/a/alpha.toml": "y\n"})
    return repo


def index_dir(repo: Repo) -> Path:
    return repo.path / ".git" / "git-batch"


def test_show_json_fast_path_equals_full_path(registry: Repo) -> None:
    first = run(registry.path, "show", B1, "--json")  # no index yet: asks git directly
    assert first.returncode == 0, first.stderr
    assert not index_dir(registry).exists()
    assert run(registry.path, "index").returncode == 0
    warm = run(registry.path, "show", B1, "--json")  # answered by the fast path
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
    def walk(group: object, prefix: str) -> list[tuple[str, object]]:
        out = []
        for name, cmd in getattr(group, "commands", {}).items():
            out.append((f"{prefix} {name}", cmd))
            out += walk(cmd, f"{prefix} {name}")
        return out

    for name, cmd in walk(main_group, "git batch"):
        text = cmd.help or ""  # type: ignore[attr-defined]
        assert "Example:" in text, f"{name} --help lacks an Example: block"
        assert not text.splitlines()[0].endswith("."), f"{name}: help line ends with a period"


def test_replayed_answers_follow_every_input(registry: Repo) -> None:
    """The replay cache (gitops/warm.py) must never print a stale answer."""
    assert run(registry.path, "index").returncode == 0
    first = run(registry.path, "show", B1, "--json").stdout  # computed, then stored
    replay = registry.path / ".git" / "git-batch" / "replay"
    assert len(list(replay.iterdir())) == 1
    assert run(registry.path, "show", B1, "--json").stdout == first  # replayed
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


def test_warm_module_uses_the_config_filename() -> None:
    assert warm.CONFIG_FILENAME == config.CONFIG_FILENAME


def test_show_after_new_commits_updates_the_index_without_heavy_modules(registry: Repo) -> None:
    """The incremental update runs in fastpath: one streamed `git log`, no subprocess, click,
    pygit2, OpenSSL, typing or pathlib (issue 2: show after 100 new commits <= 100 ms)."""
    assert run(registry.path, "index").returncode == 0
    registry.commit(f"more\n\nBatch-Id: {B1}\n", {"recipes/b/beta.toml": "b\n"})
    code = ("import sys\nbefore = set(sys.modules)\n"
            "import io, contextlib\nfrom gitops import fastpath\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    code = fastpath.run(['show', '{B1}', '--json'])\n"
            "heavy = ('subprocess', 'click', 'pygit2', '_hashlib', 'hashlib', 'typing', 'string',\n"
            "         'pathlib')\n"
            "print(code, [m for m in heavy if m in sys.modules and m not in before])\n"
            "print(out.getvalue())")
    # without site (-S) and the source tree on the path: an editable install loads pathlib
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=registry.path,
                          capture_output=True, text=True, check=True,
                          env=cli_env({"PYTHONPATH": str(Path(__file__).resolve().parents[2])}))
    first, _, doc = proc.stdout.partition("\n")
    assert first == "0 []"
    assert [c["subject"] for c in json.loads(doc)["commits"]] == ["add alpha", "more"]


EARLY_DRIVER = """
import json, os, sys
from gitops import entry, gitcli, index
walks = []
start_log = gitcli.start_log
def traced(repo, tip):
    walks.append(start_log(repo, tip))
    return walks[-1]
gitcli.start_log = traced
new_records = index._new_records
used = []
def watched(conn, repo, old, tip, walk=None):
    used.append(walk is not None and walk in walks)
    return new_records(conn, repo, old, tip, walk)
index._new_records = watched
def report(code):
    sys.stdout.flush()
    sys.stderr.write(json.dumps({"code": code, "started": len(walks), "used": used,
                                 "stopped": [w._pid == 0 for w in walks]}) + "\\n")
def leave(code):
    report(code)
    os._exit(0)
entry._leave = leave
sys.argv = ["git-batch"] + sys.argv[1:]
try:
    entry.main()
finally:  # the full CLI answered (click exits with SystemExit)
    report(None)
"""


def _entry(repo: Repo, *args: str) -> tuple[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", EARLY_DRIVER, *args], cwd=repo.path,
                          capture_output=True, text=True, check=False, env=cli_env())
    return proc.stdout, json.loads(proc.stderr.strip().splitlines()[-1])


def test_show_after_new_commits_reads_them_with_the_git_started_first(registry: Repo) -> None:
    """When the stored answer's base tip moved, entry starts `git log` of the new tip before
    importing the index's modules, and the incremental update reads that process."""
    assert run(registry.path, "index").returncode == 0
    out, seen = _entry(registry, "show", B1, "--json")  # computed and stored: nothing moved
    assert seen == {"code": 0, "started": 0, "used": [], "stopped": []}
    registry.commit(f"more\n\nBatch-Id: {B1}\n", {"recipes/b/beta.toml": "b\n"})
    out, seen = _entry(registry, "show", B1, "--json")
    assert seen == {"code": 0, "started": 1, "used": [True], "stopped": [True]}
    assert [c["subject"] for c in json.loads(out)["commits"]] == ["add alpha", "more"]
    out, seen = _entry(registry, "show", B1, "--json")  # replayed
    assert seen["started"] == 0 and [c["subject"] for c in json.loads(out)["commits"]] == [
        "add alpha", "more"]


def test_a_git_started_first_is_stopped_when_the_index_cannot_answer(registry: Repo) -> None:
    assert run(registry.path, "index").returncode == 0
    assert run(registry.path, "show", B1, "--json").returncode == 0  # stored
    registry.commit("human 2\n", {"recipes/a/alpha.toml": "z\n"})
    for path in (registry.path / ".git" / "git-batch").glob("index-*.sqlite"):
        path.unlink()  # the full CLI rebuilds it
    out, seen = _entry(registry, "show", B1, "--json")
    assert seen["started"] == 1 and seen["stopped"] == [True] and seen["used"] == []
    assert json.loads(out)["batch_id"] == B1
