"""verify_ahead: the gate's early signature check is used only for the very question it asks.

The early check is started from a file in the git dir that anyone with write access to the
repository could change; these tests forge, stale and break that file and check that the gate's
verdict never changes, that the early check is used when it should be, and that nothing (a git
process, a temporary allowed-signers file) is left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops import gitcli, ops, ops_view, verify_ahead
from gitops.config import OpsConfig
from gitops.errors import StateUntrusted
from tests.conftest import Repo, SigningKey
from tests.ops.conftest import BRANCH, forge, make_ctx, run_cli, tip
from tests.ops.test_trust import RESUMED, _paused

hints = st.builds(
    verify_ahead.Hint,
    st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
            min_size=1),
    st.lists(st.from_regex(r"refs/[a-z/]{1,20}", fullmatch=True), max_size=4).map(tuple),
    st.none() | st.binary(max_size=300),
)


@given(hints)
def test_the_file_reads_back_what_was_written(hint: verify_ahead.Hint) -> None:
    assert verify_ahead.loads(verify_ahead.dumps(hint)) == hint


@given(st.text(max_size=400))
def test_any_other_text_is_no_hint_and_no_crash(text: str) -> None:
    hint = verify_ahead.loads(text)
    assert hint is None or verify_ahead.dumps(hint) == text


def _hint(repo: Path) -> Path:
    return repo / ".git" / "git-batch" / "verify-ahead"


def _logs(repo: Path) -> tuple[list[tuple[str, ...]], ops_view.GateResult]:
    """The git processes (log: the verification, cat-file: reading the allowed signers) one
    in-process gate starts after verify_ahead.start, in order, and its result."""
    seen: list[tuple[str, ...]] = []
    gitcli.add_tracer(seen.append)
    try:
        verify_ahead.start(str(repo), {})
        result = ops_view.gate(make_ctx(repo), ecosystem="npm", stage="generate")
    finally:
        verify_ahead.discard()
        gitcli.remove_tracer(seen.append)
    return [a for a in seen if "log" in a or "cat-file" in a], result


def _question(argv: tuple[str, ...]) -> list[str]:
    """A verification's command line without its per-run parts (file name, record marker)."""
    return [a for a in argv if not a.startswith(("gpg.ssh.allowedSignersFile=", "--format="))]


def test_the_second_gate_verifies_ahead_and_decides_the_same(registry: Repo) -> None:
    _paused(registry)  # status has read the ops branch: the file predicts the next read
    _hint(registry.path).unlink()
    cold, first = _logs(registry.path)
    assert _hint(registry.path).is_file()
    warm, second = _logs(registry.path)
    # no file: the default names, the base's signers read first; then the file's prediction
    assert [a[1] for a in cold] == ["cat-file", "-c", "cat-file"]
    assert [a[1] for a in warm] == ["-c", "cat-file"]  # verified ahead, used, not run twice
    assert _question(cold[1]) == _question(warm[0])
    assert (first.decision, first.trust, first.tip) == (second.decision, second.trust, second.tip)
    assert not first.decision.can_proceed and first.trust == "trusted"


def test_a_moved_tip_is_checked_ahead_from_the_file_names(registry: Repo) -> None:
    """A pause moved the tip since the last read: the file's refs and allowed signers still
    say what to ask, for the new tip."""
    _paused(registry)
    ops.resume(make_ctx(registry.path), ecosystems=())
    procs, result = _logs(registry.path)
    assert [a[1] for a in procs] == ["-c", "cat-file"]
    assert result.tip == tip(registry.path) and result.decision.can_proceed


def test_without_the_file_the_default_names_are_checked_ahead(registry: Repo) -> None:
    _paused(registry)
    _hint(registry.path).unlink()
    procs, result = _logs(registry.path)
    # one cat-file for the base's allowed signers, the check, then the gate's own cat-file
    assert [a[1] for a in procs] == ["cat-file", "-c", "cat-file"]
    assert result.trust == "trusted" and not result.decision.can_proceed


def test_a_custom_ops_branch_without_the_file_wastes_the_guess_not_the_verdict(
        registry: Repo) -> None:
    ctx = make_ctx(registry.path, branch="ops-state")
    ops.init(ctx)
    ops.pause(ctx, ecosystems=(), level="stop", reason="incident")
    _paused(registry)  # batch-ops too, so the default guess has something to start
    _hint(registry.path).unlink()
    seen: list[tuple[str, ...]] = []
    gitcli.add_tracer(seen.append)
    try:
        verify_ahead.start(str(registry.path), {})
        result = ops_view.gate(ctx, ecosystem="npm", stage="generate")
    finally:
        verify_ahead.discard()
        gitcli.remove_tracer(seen.append)
    assert [a[1] for a in seen if "log" in a or "cat-file" in a] == [
        "cat-file", "-c", "cat-file", "-c"]  # the guess (batch-ops) was not taken
    assert result.tip == tip(registry.path, "refs/heads/ops-state")
    assert result.trust == "trusted" and not result.decision.can_proceed


def test_the_default_names_are_the_configuration_defaults() -> None:
    d = OpsConfig()
    assert (d.branch, d.remote, d.allowed_signers) == (
        verify_ahead.DEFAULT_BRANCH, verify_ahead.DEFAULT_REMOTE, verify_ahead.DEFAULT_SIGNERS)


def test_a_forged_prediction_cannot_make_a_forged_tip_trusted(
        registry: Repo, signing_key: SigningKey) -> None:
    """The file says: check the forged tip against allowed signers that give mallory's key to
    alice. The gate asks with the base's real file, so the early check is thrown away and the
    state stays UNTRUSTED, in process and through the CLI."""
    _paused(registry)
    mallory = signing_key.new_key("mallory@example.com")
    forged_tip = forge(registry.path, tip(registry.path), {"state.toml": RESUMED}, key=mallory)
    registry.git("update-ref", BRANCH, forged_tip)
    with pytest.raises(StateUntrusted):
        ops_view.gate(make_ctx(registry.path), ecosystem="npm", stage="generate")
    real = verify_ahead.loads(_hint(registry.path).read_text())
    assert real is not None and real.refs[0] == BRANCH  # the early check will ask about it
    # mallory's key under alice's name: git would report a good signature by alice
    as_alice = mallory.allowed_line.replace("mallory@example.com", "alice@example.com", 1)
    assert as_alice.startswith("alice@example.com ") and as_alice != signing_key.allowed_line
    forged = real._replace(signers=as_alice.encode())
    _hint(registry.path).write_text(verify_ahead.dumps(forged))
    with pytest.raises(StateUntrusted):
        _logs(registry.path)
    _hint(registry.path).write_text(verify_ahead.dumps(forged))
    gate = run_cli(registry.path, "gate", "--ecosystem", "npm")
    assert gate.returncode == 21 and "UNTRUSTED" in gate.stderr


@pytest.mark.parametrize("damage", ["", "git-batch verify-ahead 1\n", "\x00\xff garbage",
                                    "git-batch verify-ahead 1\ngit_dir /elsewhere\n"])
def test_a_damaged_file_is_ignored_and_rewritten(registry: Repo, damage: str) -> None:
    _paused(registry)
    _logs(registry.path)
    _hint(registry.path).write_bytes(damage.encode("utf-8", "surrogateescape"))
    procs, result = _logs(registry.path)
    assert [a[1] for a in procs] == ["cat-file", "-c", "cat-file"]  # the default guess, taken
    assert result.trust == "trusted"
    assert verify_ahead.loads(_hint(registry.path).read_text()) is not None


def test_an_unused_early_check_leaves_no_process_and_no_file(registry: Repo) -> None:
    _paused(registry)
    _logs(registry.path)
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    before = set(tmp.glob("git-batch-allowed-signers-*"))
    verify_ahead.start(str(registry.path), {})
    assert set(tmp.glob("git-batch-allowed-signers-*")) - before  # it did start
    verify_ahead.discard()
    assert set(tmp.glob("git-batch-allowed-signers-*")) == before
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_no_ops_branch_starts_no_process(registry: Repo) -> None:
    """commit-msg calls start() for every commit that mentions a batch: without an ops branch
    it must not even read the allowed signers."""
    seen: list[tuple[str, ...]] = []
    gitcli.add_tracer(seen.append)
    try:
        verify_ahead.start(str(registry.path), {})
    finally:
        gitcli.remove_tracer(seen.append)
        verify_ahead.discard()
    assert seen == []
