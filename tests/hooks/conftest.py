"""Fixtures of the hook tests: a registry with our hooks installed and a bare remote."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Repo, git

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def tool_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shims exec `git-batch` from PATH, as in a real installation."""
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")


def run(cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """A command whose failure is part of the test (no assertion on the exit code)."""
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def batch(cwd: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return run(cwd, "git", "batch", *args, env=env)


def commit(repo: Repo, message: str, files: dict[str, str], *, verify: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real `git commit` (hooks run unless verify=False); the result, not an assertion."""
    for rel, text in files.items():
        repo.write(rel, text)
    git(repo.path, "add", "-A")
    args = ["git", "commit", "-q", "-F", "-"] + ([] if verify else ["--no-verify"])
    return run(repo.path, *args, stdin=message, env=env)


@pytest.fixture
def hooked(make_repo: Callable[..., Repo]) -> Repo:
    """A registry (recipes/** managed) with the client hooks installed."""
    repo = make_repo("hooked")
    res = batch(repo.path, "hooks", "install")
    assert res.returncode == 0, res.stderr
    return repo


@pytest.fixture
def remote(tmp_path: Path, hooked: Repo) -> Path:
    """A bare clone of `hooked` with the pre-receive hook, added as `origin`."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(hooked.path), str(bare))
    res = batch(bare, "hooks", "install")
    assert res.returncode == 0, res.stderr
    git(hooked.path, "remote", "add", "origin", str(bare))
    git(hooked.path, "fetch", "-q", "origin")
    return bare
