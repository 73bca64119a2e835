"""8 writer processes x 25 operations against one bare remote: nothing lost, ids unique, and the
final state equals the serial replay of the ops history (issue 5, "Reliability and security")."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from gitops.ops import state, write
from gitops.ops.state import LandOp, PauseOp, ReserveIdOp, ResumeOp
from tests.conftest import Repo, git
from tests.ops.conftest import make_ctx, run_forked, writer_clones

WRITERS = int(os.environ.get("GIT_BATCH_TEST_WRITERS", "8"))
OPERATIONS = int(os.environ.get("GIT_BATCH_TEST_OPERATIONS", "25"))
ECOSYSTEMS = tuple(f"e{n}" for n in range(WRITERS))


def _writer(n: int, repo: Path, base_commit: str, out: Path) -> None:
    """One process: pause / id new / resume / land in turn, each pushed to the remote."""
    write.MAX_ATTEMPTS = 200  # measure contention instead of giving up (the default is 12)
    lines = []
    batch_id = ""
    ctx = make_ctx(repo, ecosystems=ECOSYSTEMS)
    for i in range(OPERATIONS):
        kind = ("pause", "id", "resume", "land")[i % 4]
        if kind == "pause":
            r = write.pause(ctx, ecosystems=(ECOSYSTEMS[n],), level="stop", reason=f"w{n}-{i}",
                          push="origin")
        elif kind == "id":
            r = write.new_id(ctx, push="origin")
            batch_id = r.reserved_id
        elif kind == "resume":
            r = write.resume(ctx, ecosystems=(ECOSYSTEMS[n],), push="origin")
        else:
            r = write.land(ctx, batch_id, (base_commit,), push="origin")
        lines.append(json.dumps({"kind": kind, "tip": r.tip, "changed": r.changed,
                                 "attempts": r.attempts, "id": r.reserved_id or batch_id}))
    out.write_text("\n".join(lines) + "\n")


def _history(remote: Path) -> list[tuple[str, int, str]]:
    """(commit, committer time, message) of the ops branch, oldest first."""
    out = git(remote, "log", "--reverse", "--first-parent", "--format=%H%x00%ct%x00%B%x1e",
              "batch-ops")
    rows = []
    for raw in out.split("\x1e"):
        record = raw.lstrip("\n")
        if record:
            oid, ct, message = record.split("\0", 2)
            rows.append((oid, int(ct), message))
    return rows


def test_concurrent_writers_lose_nothing(registry: Repo, tmp_path: Path) -> None:
    remote, clones = writer_clones(registry, tmp_path, WRITERS)
    write.init(make_ctx(clones[0], ecosystems=ECOSYSTEMS), push="origin")
    base_commit = git(remote, "rev-parse", "main").strip()

    started = time.monotonic()
    run_forked(tmp_path, WRITERS,
               lambda n: _writer(n, clones[n], base_commit, tmp_path / f"out{n}.jsonl"))
    elapsed = time.monotonic() - started

    results = [json.loads(line) for n in range(WRITERS)
               for line in (tmp_path / f"out{n}.jsonl").read_text().splitlines()]
    assert len(results) == WRITERS * OPERATIONS and all(r["changed"] for r in results)

    history = _history(remote)
    tips = {oid for oid, _t, _m in history}
    # zero lost updates: every acknowledged commit is on the final branch, and nothing else is
    assert {r["tip"] for r in results} <= tips
    assert len(history) == 1 + WRITERS * OPERATIONS
    # every reserved id is unique, and the history hands out exactly those
    ids = [r["id"] for r in results if r["kind"] == "id"]
    assert len(ids) == len(set(ids)) == WRITERS * ((OPERATIONS + 2) // 4)
    # the final state is the serial replay of the history, step by step
    assert state.parse_op(history[0][2]) == state.INIT
    current = state.State()
    for oid, ctime, message in history[1:]:
        op = state.parse_op(message)
        assert isinstance(op, PauseOp | ResumeOp | ReserveIdOp | LandOp), message
        current = state.apply(current, op, datetime.fromtimestamp(ctime, tz=UTC))
        assert state.dumps(current).decode() == git(remote, "show", f"{oid}:state.toml")
    last = {n: max(i for i in range(OPERATIONS) if i % 4 in (0, 2)) for n in range(WRITERS)}
    assert {e: p.reason for e, p in current.ecosystems.items()} == {
        ECOSYSTEMS[n]: f"w{n}-{i}" for n, i in last.items() if i % 4 == 0}
    landed = {r["id"] for r in results if r["kind"] == "land"}
    assert current.landings == {batch_id: (base_commit,) for batch_id in landed}
    attempts = [r["attempts"] for r in results]
    print(f"\n{WRITERS}x{OPERATIONS} operations in {elapsed:.1f}s; attempts per operation: "
          f"mean {sum(attempts) / len(attempts):.2f}, max {max(attempts)}")
