"""Shared fixtures: an isolated git environment and a factory of real temp repositories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FIXED_DATE = "2026-03-01T12:00:00+00:00"


@pytest.fixture(autouse=True)
def git_isolation(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[Path]:
    """HOME in a temp dir, no system config, fixed identity and dates, no inherited GIT_*."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_AUTHOR_DATE", FIXED_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", FIXED_DATE)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(home.parent))
    monkeypatch.setenv("LC_ALL", "C")
    # Temp files of the processes under test (e.g. the allowed-signers file of a writer killed
    # by test_crash) stay inside pytest's temp dir instead of littering /tmp.
    tmp = home.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(tmp))
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgSign = false\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    yield home


BIN = Path(sys.executable).parent  # the venv's bin, where git finds the git-batch command


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with the venv's bin first on PATH (plus env)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}


def git_batch(repo: Path, *args: str, env: dict[str, str] | None = None,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`git batch ARGS` in repo as a user runs it (git finds the console script on PATH)."""
    return subprocess.run(("git", "batch", *args), cwd=repo, capture_output=True, text=True,
                          env=cli_env(env), input=stdin)


def git(repo: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> str:
    """Run git in repo for a test; fail the test with stderr on a non-zero exit."""
    proc = subprocess.run(
        ("git", *args), cwd=repo, input=stdin, capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


class Repo:
    """A real repository in a temp dir with helpers to write files and commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tick = 0

    def git(self, *args: str, stdin: str | None = None) -> str:
        return git(self.path, *args, stdin=stdin)

    def write(self, rel: str, text: str) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def remove(self, rel: str) -> None:
        self.git("rm", "-q", "--", rel)

    def commit(self, message: str, files: dict[str, str | None] | None = None,
               author: str | None = None) -> str:
        """Write files (None deletes), commit everything with message, return the commit id."""
        for rel, text in (files or {}).items():
            if text is None:
                self.remove(rel)
            else:
                self.write(rel, text)
        self.git("add", "-A")
        self._tick += 1
        date = f"2026-03-01T12:{self._tick // 60:02d}:{self._tick % 60:02d}+00:00"
        env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        args = ["commit", "-q", "--allow-empty", "-F", "-"]
        if author:
            args.append(f"--author={author}")
        git(self.path, *args, stdin=message, env=env)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", "--verify", rev).strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Repo]:
    """Factory: make_repo('name') -> Repo with branch main and one initial commit."""
    counter = {"n": 0}

    def factory(name: str | None = None, *, initial: bool = True) -> Repo:
        counter["n"] += 1
        path = tmp_path / (name or f"repo{counter['n']}")
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        repo = Repo(path)
        if initial:
            repo.commit("initial\n", {"README": "registry\n"})
        return repo

    return factory


# --- ssh signing (issue 5: ops branch) ---


class SshKey:
    """A throwaway ed25519 key pair and the allowed-signers line naming it."""

    def __init__(self, directory: Path, principal: str) -> None:
        name = principal.partition("@")[0]
        self.private = directory / name
        self.public = directory / f"{name}.pub"
        self.principal = principal
        subprocess.run(("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f",
                        str(self.private)), check=True, capture_output=True)

    @property
    def allowed_line(self) -> str:
        return f"{self.principal} {self.public.read_text().strip()}\n"

    def use_in(self, repo: Path) -> None:
        """Sign with this key in repo (repository config wins over the global one)."""
        git(repo, "config", "gpg.format", "ssh")
        git(repo, "config", "user.signingkey", str(self.public))


class SigningKey(SshKey):
    """The operator's key: configured globally (gpg.format=ssh, user.signingkey)."""

    def allow(self, repo: Repo, *others: SshKey, path: str = ".git-batch/allowed_signers"
              ) -> str:
        """Commit an allowed-signers file listing this key (and others) on repo's main."""
        text = self.allowed_line + "".join(k.allowed_line for k in others)
        return repo.commit("allow ops signers\n", {path: text})

    def new_key(self, principal: str) -> SshKey:
        """Another key in the same directory (for example an attacker's, never listed)."""
        return SshKey(self.private.parent, principal)


@pytest.fixture
def signing_key(git_isolation: Path, tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    """An ed25519 key for alice@example.com, set up as the user's git signing key."""
    key = SigningKey(tmp_path_factory.mktemp("keys"), "alice@example.com")
    with (git_isolation / ".gitconfig").open("a") as fh:
        fh.write(f"[gpg]\n\tformat = ssh\n[user]\n\tsigningkey = {key.public}\n")
    return key
