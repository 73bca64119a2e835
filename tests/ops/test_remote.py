"""--push / --fetch against a local bare remote: races, retries, divergence, unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import (
    OpsBranchMissing,
    OpsDiverged,
    RemoteUnreachable,
    StateConflict,
    StateUntrusted,
)
from gitops.ops import gate, status, store, write
from tests.conftest import Repo, git
from tests.ops.conftest import BRANCH, FakeClock, make_ctx, run_cli, snapshot, tip


@pytest.fixture
def remote(registry: Repo, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(bare))
    return bare


def clone(remote: Path, name: str) -> Path:
    path = remote.parent / name
    git(remote.parent, "clone", "-q", str(remote), str(path))
    return path


def test_push_and_fetch_between_clones(remote: Path) -> None:
    a, b = clone(remote, "a"), clone(remote, "b")
    ctx_a, ctx_b = make_ctx(a), make_ctx(b)
    write.init(ctx_a, push="origin")
    assert tip(remote) == tip(a)
    with pytest.raises(OpsBranchMissing):  # b has not fetched yet
        gate.gate(ctx_b, ecosystem="npm", stage="merge")
    assert gate.gate(ctx_b, ecosystem="npm", stage="merge", fetch="origin").decision.can_proceed
    paused = write.pause(ctx_b, ecosystems=("npm",), level="stop", reason="from b", push="origin")
    assert paused.pushed == "origin" and tip(remote) == paused.tip
    report = status.status(ctx_a, fetch="origin")
    npm = next(s for s in report.scopes if s.scope == "npm")
    assert npm.active and npm.by == "alice@example.com"
    assert report.view.source == "refs/remotes/origin/batch-ops"


def test_lost_race_reapplies_the_operation_on_the_new_tip(remote: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = clone(remote, "a"), clone(remote, "b")
    write.init(make_ctx(a), push="origin")
    write.pause(make_ctx(b), ecosystems=("cargo",), level="stop", reason="b first", push="origin")
    real_push = store.push
    raced = []

    def push_after_a_rival(*args: object, **kwargs: object) -> str:
        if not raced:  # between a's fetch and a's push, b lands another operation
            raced.append("rival")
            monkeypatch.setattr(store, "push", real_push)
            raced.append(write.new_id(make_ctx(b), push="origin").reserved_id)
            monkeypatch.setattr(store, "push", push_after_a_rival)
        return real_push(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "push", push_after_a_rival)
    monkeypatch.setattr(write, "_sleep", lambda attempt, took: None)
    result = write.pause(make_ctx(a), ecosystems=("npm",), level="freeze", reason="a second",
                       push="origin")
    assert result.attempts == 2
    final = status.status(make_ctx(a), fetch="origin").state
    assert set(final.ecosystems) == {"cargo", "npm"} and final.ids == {"2026-03-01": 1}
    assert git(remote, "log", "--format=%s", "batch-ops").splitlines() == [
        "pause npm (freeze)", "reserve batch id 2026-03-01-001", "pause cargo (stop)",
        "initialize the ops branch"]


def test_contended_gives_up_with_exit_75_and_writes_nothing(remote: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    a = clone(remote, "a")
    write.init(make_ctx(a), push="origin")
    monkeypatch.setattr(store, "push", lambda *a, **k: "rejected")
    monkeypatch.setattr(write, "_sleep", lambda attempt, took: None)
    monkeypatch.setattr(write, "MAX_ATTEMPTS", 3)
    before_remote, before_local = tip(remote), tip(a)
    with pytest.raises(StateConflict, match="moved 3 times") as err:
        write.pause(make_ctx(a), ecosystems=(), level="stop", reason="r", push="origin")
    assert err.value.exit_code == 75 and "run the same command again" in str(err.value.hint)
    assert (tip(remote), tip(a)) == (before_remote, before_local)


def test_local_operations_are_published_by_the_next_push(remote: Path) -> None:
    a = clone(remote, "a")
    ctx = make_ctx(a)
    write.init(ctx, push="origin")
    write.pause(ctx, ecosystems=("npm",), level="stop", reason="local only")
    assert tip(remote) != tip(a)
    write.pause(ctx, ecosystems=("cargo",), level="stop", reason="pushed", push="origin")
    assert tip(remote) == tip(a)
    assert len(git(remote, "rev-list", "batch-ops").split()) == 3


def test_diverged_clone_refuses_and_writes_nothing(remote: Path) -> None:
    a, b = clone(remote, "a"), clone(remote, "b")
    write.init(make_ctx(a), push="origin")
    gate.gate(make_ctx(b), ecosystem="npm", stage="merge", fetch="origin")
    write.pause(make_ctx(a), ecosystems=("npm",), level="stop", reason="not pushed")
    write.pause(make_ctx(b), ecosystems=("cargo",), level="stop", reason="pushed", push="origin")
    before_local, before_remote = tip(a), tip(remote)
    with pytest.raises(OpsDiverged) as err:
        write.resume(make_ctx(a), ecosystems=("npm",), push="origin")
    assert "git log --oneline origin/batch-ops...batch-ops" in str(err.value.hint)
    assert (tip(a), tip(remote)) == (before_local, before_remote)
    # readers use the published state and say why
    decided = gate.gate(make_ctx(a), ecosystem="cargo", stage="merge")
    assert not decided.decision.can_proceed and any("never pushed" in w for w in decided.warnings)
    # the runbook's way out (docs/runbooks/ops-diverged.md, step 2), then the write works
    git(a, "update-ref", BRANCH, "refs/remotes/origin/batch-ops")
    git(a, "update-ref", "-d", "refs/git-batch/ops-seen/heads/batch-ops")
    again = write.pause(make_ctx(a), ecosystems=("npm",), level="stop", reason="redo",
                      push="origin")
    assert again.changed and tip(remote) == again.tip


def test_unreachable_remote_fails_closed_unless_configured_open(remote: Path) -> None:
    a = clone(remote, "a")
    write.init(make_ctx(a), push="origin")
    write.pause(make_ctx(a), ecosystems=("npm",), level="freeze", reason="r", push="origin")
    git(a, "remote", "add", "gone", str(remote.parent / "does-not-exist.git"))
    before = snapshot(a)
    with pytest.raises(RemoteUnreachable, match="cannot reach remote 'gone'"):
        gate.gate(make_ctx(a), ecosystem="npm", stage="generate", fetch="gone")
    with pytest.raises(RemoteUnreachable):
        write.pause(make_ctx(a), ecosystems=(), level="stop", reason="r", push="gone")
    assert snapshot(a) == before
    open_ctx = make_ctx(a, on_unreachable="open")
    result = gate.gate(open_ctx, ecosystem="npm", stage="merge", fetch="gone")
    assert not result.decision.can_proceed  # the known pause still wins
    assert any("on_unreachable" in w for w in result.warnings)
    fresh = clone(remote, "fresh")
    git(fresh, "update-ref", "-d", "refs/remotes/origin/batch-ops")
    git(fresh, "remote", "add", "gone", str(remote.parent / "does-not-exist.git"))
    blind = gate.gate(make_ctx(fresh, on_unreachable="open"), ecosystem="npm", stage="merge",
                     fetch="gone")
    assert blind.decision.can_proceed and blind.trust == "unknown"


def test_remote_without_ops_branch(remote: Path) -> None:
    a = clone(remote, "a")
    with pytest.raises(OpsBranchMissing, match="remote 'origin' has no batch-ops"):
        gate.gate(make_ctx(a), ecosystem="npm", stage="merge", fetch="origin")
    write.init(make_ctx(a))  # only locally
    published = write.init(make_ctx(a), push="origin")
    assert published.published and not published.changed and tip(remote) == tip(a)


def test_rollback_on_the_remote_is_caught_by_a_clone_that_saw_the_newer_tip(remote: Path
                                                                            ) -> None:
    a = clone(remote, "a")
    clock = FakeClock()
    write.init(make_ctx(a, clock), push="origin")
    clock.tick()
    write.pause(make_ctx(a, clock), ecosystems=(), level="stop", reason="r", push="origin")
    b = clone(remote, "b")
    status.status(make_ctx(b))  # b saw the paused tip (remembered under refs/git-batch/ops-seen/)
    git(remote, "update-ref", BRANCH, git(remote, "rev-parse", "batch-ops~1").strip())
    with pytest.raises(StateUntrusted, match="rewritten"):
        gate.gate(make_ctx(b), ecosystem="npm", stage="merge", fetch="origin")
    res = run_cli(b, "gate", "--ecosystem", "npm", "--fetch", "origin")
    assert res.returncode == 21 and "can_proceed=false" in res.stdout


def test_a_no_op_with_push_publishes_what_this_clone_wrote_without_it(remote: Path) -> None:
    """An operator paused without --push, then ran the same pause with --push: nothing changes
    in the state, but the remote must get the pause (it is what --push asked for)."""
    a = clone(remote, "a")
    ctx = make_ctx(a)
    write.init(ctx, push="origin")
    local_only = write.pause(ctx, ecosystems=("npm",), level="stop", reason="incident")
    assert local_only.changed and tip(remote) != local_only.tip
    again = write.pause(ctx, ecosystems=("npm",), level="stop", reason="incident", push="origin")
    assert not again.changed and again.published and again.pushed == "origin"
    assert tip(remote) == local_only.tip == again.tip
    # and once published, the same no-op pushes nothing
    assert not write.pause(ctx, ecosystems=("npm",), level="stop", reason="incident",
                         push="origin").published
    res = run_cli(a, "pause", "--ecosystem", "npm", "--level", "stop", "--reason", "incident",
                  "--push", "origin")
    assert res.returncode == 0 and "nothing written." in res.stdout
    assert "Published" not in res.stdout
    assert run_cli(a, "resume", "--ecosystem", "npm").returncode == 0  # local only
    res = run_cli(a, "resume", "--ecosystem", "npm", "--push", "origin")
    assert res.returncode == 0 and "Published" in res.stdout, res.stdout
    assert tip(remote) == tip(a)
