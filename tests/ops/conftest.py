"""Fixtures of the ops-branch tests: a registry with an allowed signer, contexts, forgeries."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops.config import Config, OpsConfig
from gitops.context import Context
from gitops.git.repository import open_repository
from gitops.ops import state
from tests.conftest import Repo, SigningKey, SshKey, git, git_batch

NOW = datetime(2026, 3, 1, 13, 0, 0, tzinfo=UTC)  # the day the registry's commits were made
BRANCH = "refs/heads/batch-ops"


class FakeClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def tick(self, minutes: int = 1) -> None:
        self.current += timedelta(minutes=minutes)


def make_ctx(path: Path, clock: FakeClock | None = None, **ops: object) -> Context:
    cfg = Config()
    cfg = cfg._replace(ops=OpsConfig()._replace(**ops))  # type: ignore[arg-type]
    return Context(repo=open_repository(path), config=cfg,
                   clock=clock or FakeClock())  # type: ignore[arg-type]


@pytest.fixture
def registry(make_repo: Callable[..., Repo], signing_key: SigningKey) -> Repo:
    """A registry whose main lists alice (the configured signing key) as the one operator."""
    repo = make_repo("registry")
    signing_key.allow(repo)
    return repo


run_cli = git_batch  # the name the ops tests use


def snapshot(repo: Path) -> tuple[str, str]:
    """Every ref and the object count: equal before and after means nothing was written."""
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)")
    objects = git(repo, "count-objects", "-v")
    return refs, objects


def forge(repo: Path, parent: str | None, files: dict[str, str], *, key: SshKey | None,
          committer: str | None = None, message: str = "forged\n\nOp: resume\n") -> str:
    """A commit built by hand (no git-batch): signed by key, or unsigned when key is None."""
    tree = _tree(repo, files)
    args = []
    if key is not None:
        args += ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key.public}"]
    args += ["commit-tree", "-S" if key is not None else "--no-gpg-sign"]
    if parent:
        args += ["-p", parent]
    args.append(tree)
    env = {"GIT_COMMITTER_NAME": committer, "GIT_AUTHOR_NAME": committer} if committer else None
    return git(repo, *args, stdin=message, env=env).strip()


def _tree(repo: Path, files: dict[str, str]) -> str:
    entries = []
    subdirs: dict[str, dict[str, str]] = {}
    for name, text in sorted(files.items()):
        head, sep, rest = name.partition("/")
        if sep:
            subdirs.setdefault(head, {})[rest] = text
            continue
        blob = git(repo, "hash-object", "-w", "--stdin", stdin=text).strip()
        entries.append(f"100644 blob {blob}\t{name}\n")
    for head, sub in subdirs.items():
        entries.append(f"040000 tree {_tree(repo, sub)}\t{head}\n")
    return git(repo, "mktree", stdin="".join(entries)).strip()


def state_text(s: state.State) -> str:
    return state.dumps(s).decode()


def tip(repo: Path, ref: str = BRANCH) -> str:
    return git(repo, "rev-parse", "--verify", ref).strip()


def writer_clones(registry: Repo, tmp_path: Path, writers: int) -> tuple[Path, list[Path]]:
    """A bare remote cloned from registry and one clone of it per concurrent writer."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(remote))
    clones = []
    for n in range(writers):
        path = tmp_path / f"w{n}"
        git(tmp_path, "clone", "-q", str(remote), str(path))
        clones.append(path)
    return remote, clones



def run_forked(tmp_path: Path, count: int, work: Callable[[int], None]) -> None:
    """work(0) .. work(count - 1), each in a forked process at the same time; fail the test with
    the tracebacks of those that raised."""
    pids = []
    for n in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child process
            code = 0
            try:
                work(n)
            except BaseException:
                (tmp_path / f"err{n}.txt").write_text(traceback.format_exc())
                code = 1
            os._exit(code)
        pids.append(pid)
    failed = [n for n, pid in enumerate(pids) if os.waitpid(pid, 0)[1] != 0]
    assert not failed, {n: (tmp_path / f"err{n}.txt").read_text() for n in failed}
