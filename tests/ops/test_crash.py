"""kill -9 a writer at random points (issue 5): every ops ref is the old or the new commit, `git
fsck` is clean, and the next operation succeeds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from gitops.ops import write
from tests.conftest import Repo, git
from tests.ops.conftest import BRANCH, make_ctx

TRIALS = int(os.environ.get("GIT_BATCH_TEST_CRASH_TRIALS", "50"))
TRACKING = "refs/remotes/origin/batch-ops"


def _refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/batch-ops",
              TRACKING)
    return {name: oid for oid, name in (line.split() for line in out.splitlines())}


def _parent(repo: Path, oid: str) -> str:
    return git(repo, "rev-parse", f"{oid}^").strip()


def _fsck_clean(repo: Path) -> None:
    res = subprocess.run(("git", "fsck", "--no-progress", "--no-dangling"), cwd=repo,
                         capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), (repo, res.stdout, res.stderr)


def _one_operation(clone: Path, n: int) -> None:
    ctx = make_ctx(clone)
    if n % 3 == 0:
        write.new_id(ctx, push="origin")
    elif n % 3 == 1:
        write.pause(ctx, ecosystems=("npm",), level="stop", reason=f"crash trial {n}",
                    push="origin")
    else:
        write.resume(ctx, ecosystems=("npm",), push="origin")


def _drain(pgid: int, timeout: float = 10.0) -> None:
    """Wait until the killed writer's git children (left running, as after a real kill -9)
    have finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)
    raise AssertionError("git processes of the killed writer did not finish")


class Stream:
    """One writer clone and its bare remote; several streams run their trials side by side so
    that the waits (random kill points, the killed writer's git children) overlap."""

    def __init__(self, registry: Repo, root: Path) -> None:
        root.mkdir()
        self.remote = root / "remote.git"
        git(root, "clone", "-q", "--bare", str(registry.path), str(self.remote))
        self.clone = root / "writer"
        git(root, "clone", "-q", str(self.remote), str(self.clone))
        write.init(make_ctx(self.clone), push="origin")
        self.pid = 0
        self.before: tuple[dict[str, str], str] = ({}, "")

    def start(self, n: int) -> None:
        self.before = (_refs(self.clone), _refs(self.remote)[BRANCH])
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the writer
            os.setpgid(0, 0)
            try:
                _one_operation(self.clone, n)
            finally:
                os._exit(0)
        self.pid = pid

    def check(self, n: int) -> str:
        os.waitpid(self.pid, 0)
        _drain(self.pid)
        before_local, before_remote = self.before
        after_local, after_remote = _refs(self.clone), _refs(self.remote)[BRANCH]
        # the remote's branch: untouched, or exactly one operation further
        if after_remote == before_remote:
            outcome = "old"
        else:
            assert _parent(self.remote, after_remote) == before_remote, n
            outcome = "new"
        # the clone's refs: each is its old value or that same one new commit
        for ref, oid in after_local.items():
            assert oid in (before_local.get(ref), after_remote), (n, ref)
        _fsck_clean(self.clone)
        _fsck_clean(self.remote)
        self.before = (after_local, after_remote)
        return outcome

    def start_next(self) -> None:
        """The next operation, in its own process so that the streams' run side by side."""
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the next writer
            code = 1
            try:
                code = 0 if write.new_id(make_ctx(self.clone), push="origin").changed else 1
            finally:
                os._exit(code)
        self.pid = pid

    def check_next(self, n: int) -> None:
        """The next operation succeeded and built on whatever the kill left."""
        assert os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1]) == 0, n
        after = _refs(self.remote)[BRANCH]
        assert _parent(self.remote, after) == self.before[1], n
        assert _refs(self.clone)[BRANCH] == after


STREAMS = 5


def test_kill_9_at_random_points_leaves_old_or_new(registry: Repo, tmp_path: Path) -> None:
    streams = [Stream(registry, tmp_path / f"s{i}") for i in range(STREAMS)]
    started = time.monotonic()
    for stream in streams:  # calibration: how long an operation takes with all streams busy
        stream.start(0)
    for stream in streams:
        os.waitpid(stream.pid, 0)
    duration = time.monotonic() - started
    rng = random.Random(5)  # noqa: S311 - reproducible kill points, not security
    outcomes = {"old": 0, "new": 0}
    n = 0
    while n < TRIALS:
        batch = streams[: min(STREAMS, TRIALS - n)]
        kills = sorted((rng.uniform(0, duration * 1.2), i) for i in range(len(batch)))
        t0 = time.monotonic()
        for i, stream in enumerate(batch):
            stream.start(n + i + 1)
        for at, i in kills:
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            os.kill(batch[i].pid, signal.SIGKILL)
        for i, stream in enumerate(batch):
            outcomes[stream.check(n + i + 1)] += 1
        for stream in batch:
            stream.start_next()
        for i, stream in enumerate(batch):
            stream.check_next(n + i + 1)
        n += len(batch)
    print(f"\n{TRIALS} writers killed: {outcomes['old']} left the old tip, {outcomes['new']} the "
          f"new one")
    assert sum(outcomes.values()) == TRIALS
    assert outcomes["old"] >= 3 and outcomes["new"] >= 3, outcomes
