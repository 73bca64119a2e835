"""Forgery: every case of issue 5 makes `gate` refuse (exit 21) and `status` say UNTRUSTED."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.errors import StateUntrusted
from gitops.ops import gate, state, status, write
from gitops.ops.state import State
from tests.conftest import Repo, SigningKey, git
from tests.ops.conftest import BRANCH, forge, make_ctx, run_cli, snapshot, state_text, tip

Forger = Callable[[Repo, SigningKey], None]
RESUMED = state_text(State())  # what a forger wants: no pause at all


def _paused(registry: Repo) -> str:
    """init + a legitimate pause by alice; returns the good tip this clone has verified."""
    ctx = make_ctx(registry.path)
    write.init(ctx)
    write.pause(ctx, ecosystems=(), level="stop", reason="incident")
    status.status(ctx)
    return tip(registry.path)


def unsigned_tip(repo: Repo, key: SigningKey) -> None:
    repo.git("update-ref", BRANCH, forge(repo.path, tip(repo.path), {"state.toml": RESUMED},
                                         key=None))


def unlisted_key(repo: Repo, key: SigningKey) -> None:
    mallory = key.new_key("mallory@example.com")
    repo.git("update-ref", BRANCH, forge(repo.path, tip(repo.path), {"state.toml": RESUMED},
                                         key=mallory))


def good_then_unsigned_on_top(repo: Repo, key: SigningKey) -> None:
    good = forge(repo.path, tip(repo.path), {"state.toml": RESUMED}, key=key)
    repo.git("update-ref", BRANCH, forge(repo.path, good, {"state.toml": RESUMED}, key=None))


def tampered_tree_recommitted(repo: Repo, key: SigningKey) -> None:
    """The tip's tree edited and committed in its place (same parent) by an unlisted key."""
    mallory = key.new_key("mallory@example.com")
    parent = git(repo.path, "rev-parse", "batch-ops~1").strip()
    repo.git("update-ref", BRANCH, forge(repo.path, parent, {"state.toml": RESUMED},
                                         key=mallory, message=git(
                                             repo.path, "log", "-1", "--format=%B", "batch-ops")))


def rewritten_to_an_older_signed_tip(repo: Repo, key: SigningKey) -> None:
    """A rollback: every commit verifies, but the clone saw a newer tip."""
    repo.git("update-ref", BRANCH, git(repo.path, "rev-parse", "batch-ops~1").strip())


def signers_changed_on_the_ops_branch(repo: Repo, key: SigningKey) -> None:
    mallory = key.new_key("mallory@example.com")
    files = {"state.toml": RESUMED,
             ".git-batch/allowed_signers": key.allowed_line + mallory.allowed_line}
    repo.git("update-ref", BRANCH, forge(repo.path, tip(repo.path), files, key=mallory))


def committer_named_like_an_operator(repo: Repo, key: SigningKey) -> None:
    mallory = key.new_key("mallory@example.com")
    repo.git("update-ref", BRANCH, forge(repo.path, tip(repo.path), {"state.toml": RESUMED},
                                         key=mallory, committer="alice@example.com"))


def unsigned_hidden_under_a_good_tip(repo: Repo, key: SigningKey) -> None:
    """An unsigned commit since the last verified tip, then a good signature on top of it."""
    hidden = forge(repo.path, tip(repo.path), {"state.toml": RESUMED}, key=None)
    repo.git("update-ref", BRANCH, forge(repo.path, hidden, {"state.toml": RESUMED}, key=key))


FORGERIES = [unsigned_tip, unlisted_key, good_then_unsigned_on_top, tampered_tree_recommitted,
             rewritten_to_an_older_signed_tip, signers_changed_on_the_ops_branch,
             committer_named_like_an_operator, unsigned_hidden_under_a_good_tip]


@pytest.mark.parametrize("forgery", FORGERIES, ids=lambda f: f.__name__)
def test_forgery_makes_gate_refuse_and_status_untrusted(registry: Repo, signing_key: SigningKey,
                                                        forgery: Forger) -> None:
    _paused(registry)
    forgery(registry, signing_key)
    ctx = make_ctx(registry.path)
    with pytest.raises(StateUntrusted):
        gate.gate(ctx, ecosystem="npm", stage="generate")
    report = status.status(ctx)
    assert report.view.trust.label == "untrusted" and report.view.trust.problems
    gated = run_cli(registry.path, "gate", "--ecosystem", "npm")
    assert gated.returncode == 21, gated.stderr
    assert "can_proceed=false" in gated.stdout
    assert "UNTRUSTED" in gated.stderr and "state-untrusted.md" in gated.stderr
    shown = run_cli(registry.path, "status", "--text")
    assert shown.returncode == 21
    assert shown.stdout.splitlines()[0].startswith("UNTRUSTED ops state")
    audit = run_cli(registry.path, "audit", "--json")  # the whole report, then exit 21
    assert audit.returncode == 21 and json.loads(audit.stdout)["trust"]["state"] == "untrusted"
    # nobody ever appears as the operator of a commit that does not verify
    for entry in report.recent:
        if entry.problem:
            assert entry.principal is None
    if forgery is committer_named_like_an_operator:
        assert report.recent[0].principal is None
        assert report.recent[0].check.committer.startswith("alice@example.com")
        short = report.recent[0].check.oid[:10]
        line = next(x for x in shown.stdout.splitlines() if x.startswith(f"  {short}"))
        assert "UNVERIFIED" in line and "alice" not in line


def test_writers_refuse_to_build_on_an_untrusted_state(registry: Repo, signing_key: SigningKey
                                                       ) -> None:
    _paused(registry)
    unsigned_tip(registry, signing_key)
    before = snapshot(registry.path)
    with pytest.raises(StateUntrusted):
        write.resume(make_ctx(registry.path), ecosystems=())
    assert snapshot(registry.path) == before


def test_a_fresh_clone_of_a_forged_tip_is_untrusted(registry: Repo, signing_key: SigningKey,
                                                    tmp_path: Path) -> None:
    _paused(registry)
    unlisted_key(registry, signing_key)
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(registry.path), str(clone))  # origin/batch-ops, no memory
    with pytest.raises(StateUntrusted):
        gate.gate(make_ctx(clone), ecosystem="npm", stage="generate")


def test_restoring_the_last_verified_tip_makes_it_trusted_again(registry: Repo,
                                                               signing_key: SigningKey) -> None:
    good = _paused(registry)
    unsigned_tip(registry, signing_key)
    registry.git("update-ref", BRANCH, good)  # the runbook's restore step
    result = gate.gate(make_ctx(registry.path), ecosystem="npm", stage="generate")
    assert not result.decision.can_proceed and result.trust == "trusted"


def test_a_key_removed_from_the_base_untrusts_its_tip(registry: Repo, signing_key: SigningKey
                                                      ) -> None:
    _paused(registry)
    registry.commit("remove alice\n", {".git-batch/allowed_signers": "# nobody\n"})
    with pytest.raises(StateUntrusted, match=r"not in main:\.git-batch/allowed_signers"):
        gate.gate(make_ctx(registry.path), ecosystem="npm", stage="generate")


def test_good_signature_by_a_listed_key_for_another_principal_is_not_alice(
        registry: Repo, signing_key: SigningKey) -> None:
    """status names the principal the allowed-signers file gives the key, nothing else."""
    bob = signing_key.new_key("bob@example.com")
    registry.commit("add bob\n", {".git-batch/allowed_signers": signing_key.allowed_line
                                  + bob.allowed_line})
    ctx = make_ctx(registry.path)
    write.init(ctx)
    bob.use_in(registry.path)
    write.pause(ctx, ecosystems=("npm",), level="freeze", reason="bob's pause")
    report = status.status(ctx)
    npm = next(s for s in report.scopes if s.scope == "npm")
    assert npm.by == "bob@example.com"
    assert [e.principal for e in report.recent] == ["bob@example.com", "alice@example.com"]
    assert state.parse_op(report.recent[0].check.message) is not None
