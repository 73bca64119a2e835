"""`git batch drill`: a whole incident on a throw-away clone, and nothing outside it changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BIN, Repo, SigningKey, cli_env, git

B1 = "2026-03-01-001"
B2 = "2026-03-01-002"

# The incident, in order: what every passing drill of the default breaker reports.
STEPS = ["clone", "setup", "list", "ops init", "record", "gate", "record", "gate", "pause",
         "gate", "revert", "inflight", "merge revert", "resume", "breaker reset", "gate",
         "reapply"]


def run(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = cli_env(env)
    return subprocess.run(("git", "batch", *args), cwd=cwd, capture_output=True, text=True,
                          env=full)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def registry(make_repo: Callable[..., Repo], signing_key: SigningKey, tmp_path: Path) -> Repo:
    """Two cargo batches, an in-flight branch, a bare `origin` (origin/HEAD -> main), and a real
    ops state in which cargo is paused: the drill must neither see nor change any of it."""
    repo = make_repo("registry")
    signing_key.allow(repo)
    repo.commit(f"add alpha\n\nBatch-Id: {B1}\nBatch-Ecosystem: cargo\n",
                {"recipes/a/alpha.toml": "name = 'alpha'\n", "batch-control.json": "{}\n"})
    repo.commit(f"add beta\n\nBatch-Id: {B2}\nBatch-Ecosystem: cargo\n",
                {"recipes/b/beta.toml": "name = 'beta'\n", "batch-control.json": "{ }\n"})
    repo.git("branch", "fix/beta", "HEAD")
    repo.git("checkout", "-q", "fix/beta")
    repo.commit("edit beta\n", {"recipes/b/beta.toml": "name = 'beta'\nversion = '2'\n"})
    repo.git("checkout", "-q", "main")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main", "fix/beta")
    repo.git("fetch", "-q", "origin")
    repo.git("remote", "set-head", "origin", "main")
    for args in (("ops", "init", "--push", "origin"),
                 ("pause", "--ecosystem", "cargo", "--reason", "real incident", "--push",
                  "origin")):
        res = run(repo.path, *args)
        assert res.returncode == 0, res.stderr
    return repo


def snapshot(repo: Path, remote: Path) -> dict[str, str]:
    """Everything the drill must leave alone, as text: refs, HEAD, work tree, config, objects
    of the repository, and the refs of its remote."""
    return {
        "refs": git(repo, "for-each-ref", "--format=%(objectname) %(refname) %(symref)"),
        "head": git(repo, "symbolic-ref", "HEAD") + git(repo, "rev-parse", "HEAD"),
        "status": git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        "config": git(repo, "config", "--local", "--list"),
        "objects": git(repo, "count-objects", "-v"),
        "remote": git(remote, "for-each-ref", "--format=%(objectname) %(refname)"),
    }


def test_drill_outside_a_repository_runs_the_demo(tmp_path: Path, workdir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run(empty, "drill", "--workdir", str(workdir))
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[3] == "demo" and "generated the demo registry" in lines[0]
    steps = lines[1:-1]
    assert [line.split("ms  ", 1)[1][:13].strip() for line in steps] == STEPS
    assert all(line.startswith("ok ") for line in steps)
    assert lines[-1].startswith(f"verdict: PASS ({len(STEPS) + 1} steps, ")
    assert "refused with exit 40 [breaker open]" in res.stdout
    assert "refused with exit 20" in res.stdout
    assert list(workdir.iterdir()) == [] and list(empty.iterdir()) == []


def test_drill_never_touches_the_repository_or_its_remote(registry: Repo, tmp_path: Path,
                                                          workdir: Path) -> None:
    remote = tmp_path / "remote.git"
    before = snapshot(registry.path, remote)
    out = tmp_path / "github-output"
    out.write_text("")
    # Variables that would publish or redirect the real commands must not reach the drill's.
    env = {"GIT_BATCH_PUSH": "origin", "GIT_BATCH_FETCH": "origin",
           "GIT_BATCH_GITHUB_OUTPUT": "1", "GITHUB_OUTPUT": str(out)}
    res = run(registry.path, "drill", "--json", "--keep", "--workdir", str(workdir), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert snapshot(registry.path, remote) == before
    assert out.read_text() == ""

    doc = json.loads(res.stdout)
    assert set(doc) == {"schema_version", "verdict", "failure", "source", "clone", "batch_id",
                        "ecosystem", "duration_ms", "steps"}
    assert (doc["verdict"], doc["failure"], doc["batch_id"], doc["ecosystem"]) == (
        "PASS", None, B2, "cargo")
    assert doc["source"] == {"kind": "repository", "path": str(registry.path),
                             "base_ref": "refs/remotes/origin/main",
                             "base": registry.head("origin/main")}
    assert [s["name"] for s in doc["steps"]] == STEPS
    for step in doc["steps"]:
        assert set(step) == {"name", "command", "exit_code", "expected", "ok", "duration_ms",
                             "summary"}
        assert step["ok"] and step["exit_code"] in step["expected"]
        assert isinstance(step["duration_ms"], int) and step["summary"]
    gates = [s["exit_code"] for s in doc["steps"] if s["name"] == "gate"]
    assert gates == [0, 40, 20, 0]
    assert next(s for s in doc["steps"] if s["name"] == "pause")["command"] == (
        "git batch pause --ecosystem cargo --reason 'git batch drill on a throw-away clone' "
        "--push origin")

    # --keep: the clone is there, with the drill's operations on its own ops branch and remote.
    kept = Path(doc["clone"])
    assert kept.parent == workdir
    clone = kept / "clone.git"
    assert git(clone, "config", "--get-regexp", r"^remote\.").split("\n")[0] == (
        f"remote.origin.url {kept / 'origin.git'}")
    ops = git(kept / "origin.git", "log", "--format=%s", "batch-ops").splitlines()
    assert len(ops) == 6 and "real incident" not in git(clone, "show", "batch-ops:state.toml")
    assert git(clone, "rev-parse", "refs/remotes/origin/main") != registry.head("origin/main")
    assert f"refs/heads/batch-revert/{B2}" in git(clone, "for-each-ref")
    assert f"refs/heads/batch-revert/{B2}" not in git(registry.path, "for-each-ref")


def test_drill_fails_with_a_verdict_when_there_is_no_batch(make_repo: Callable[..., Repo],
                                                           workdir: Path) -> None:
    repo = make_repo("empty-registry")
    res = run(repo.path, "drill", "--workdir", str(workdir))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["ok", "ok", "FAIL"]
    assert "no batch on the base branch" in lines[2]
    assert lines[3].strip() == "command: git batch list --json"
    assert lines[-1].startswith("verdict: FAIL (3 steps, ")
    err = res.stderr.splitlines()
    assert err[0].startswith("git-batch: error: drill FAILED: step 'list' failed: no batch")
    assert err[-1] == "runbook: docs/runbooks/drill.md"
    assert list(workdir.iterdir()) == []


def test_drill_json_failure_names_the_step(registry: Repo, workdir: Path) -> None:
    res = run(registry.path, "drill", "--json", "--batch", "2026-03-01-009", "--workdir",
              str(workdir))
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["verdict"] == "FAIL" and doc["clone"] is None
    assert [s["ok"] for s in doc["steps"]] == [True, True, False]
    assert doc["failure"].startswith("step 'list' failed: batch 2026-03-01-009 is not on")
    assert list(workdir.iterdir()) == []


def test_drill_refuses_an_unknown_ecosystem_before_doing_anything(registry: Repo,
                                                                  workdir: Path) -> None:
    res = run(registry.path, "drill", "--ecosystem", "maven", "--workdir", str(workdir))
    assert res.returncode == 2
    assert "unknown ecosystem 'maven'" in res.stderr and res.stdout == ""
    assert list(workdir.iterdir()) == []


def test_drill_interrupted_leaves_nothing_behind(tmp_path: Path, workdir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = cli_env()
    # git-batch itself: `git batch` would die of the signal instead of reporting it
    proc = subprocess.Popen((str(BIN / "git-batch"), "drill", "--workdir", str(workdir)),
                            cwd=empty,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the incident is under way, then ^C (the whole group)
        if " ops init " in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130
    deadline = time.monotonic() + 5
    while list(workdir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(workdir.iterdir()) == []
