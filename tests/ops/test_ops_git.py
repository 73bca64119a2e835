"""The ops branch on real repositories with real ssh signatures: store, semantics, ids, landings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops.errors import (
    IdentityMissing,
    OpsBranchMissing,
    SigningNotConfigured,
    StateCorrupt,
    UsageError,
)
from gitops.ops import gate, state, status, trust, write
from gitops.ops.state import State
from tests.conftest import Repo, SigningKey, git
from tests.ops.conftest import BRANCH, NOW, FakeClock, forge, make_ctx, snapshot, tip


def test_init_makes_a_signed_orphan_branch_holding_the_empty_state(registry: Repo) -> None:
    result = write.init(make_ctx(registry.path))
    assert result.changed and result.signer == "alice@example.com"
    root = tip(registry.path)
    assert git(registry.path, "rev-list", "--parents", "-n1", root).split() == [root]
    assert git(registry.path, "show", f"{root}:state.toml").encode() == state.dumps(State())
    assert git(registry.path, "ls-tree", "--name-only", root).split() == ["state.toml"]
    body = git(registry.path, "log", "-1", "--format=%B", root)
    assert "Op: init" in body
    git(registry.path, "-c", f"gpg.ssh.allowedSignersFile={registry.path}/.git-batch/"
        "allowed_signers", "verify-commit", root)
    again = write.init(make_ctx(registry.path))
    assert not again.changed and tip(registry.path) == root


def test_no_common_history_with_the_base(registry: Repo) -> None:
    write.init(make_ctx(registry.path))
    import subprocess  # noqa: PLC0415

    res = subprocess.run(("git", "merge-base", "main", "batch-ops"), cwd=registry.path,
                         capture_output=True)
    assert res.returncode == 1


def test_pause_resume_and_gate_semantics(registry: Repo) -> None:
    clock = FakeClock()
    ctx = make_ctx(registry.path, clock)
    write.init(ctx)
    write.pause(ctx, ecosystems=("homebrew",), level="freeze", reason="bad validation",
              incident="https://status/INC-1", until="2h")
    assert not gate.gate(ctx, ecosystem="homebrew", stage="merge").decision.can_proceed
    assert gate.gate(ctx, ecosystem="homebrew", stage="generate").decision.can_proceed
    assert gate.gate(ctx, ecosystem="cargo", stage="merge").decision.can_proceed
    clock.tick(121)
    later = gate.gate(ctx, ecosystem="homebrew", stage="merge")
    assert later.decision.can_proceed and "expired" in later.decision.reason
    write.pause(ctx, ecosystems=(), level="stop", reason="everything is on fire")
    for eco in ("cargo", "npm"):
        for stage in ("generate", "merge"):
            assert not gate.gate(ctx, ecosystem=eco, stage=stage).decision.can_proceed
    write.resume(ctx, ecosystems=(), reason="fire is out")
    assert gate.gate(ctx, ecosystem="cargo", stage="merge").decision.can_proceed
    messages = git(registry.path, "log", "--format=%s", "batch-ops").splitlines()
    assert messages == ["resume all ecosystems", "pause all ecosystems (stop)",
                        "pause homebrew (freeze)", "initialize the ops branch"]
    body = git(registry.path, "log", "--format=%B", "-1", "batch-ops~2")
    assert re.fullmatch(
        "pause homebrew \\(freeze\\)\n\nbad validation\n\nOp: pause\nEcosystem: homebrew\n"
        "Level: freeze\nIncident: https://status/INC-1\nUntil: 2026-03-01T15:00:00Z\n"
        "Op-Id: [0-9a-f]{16}\n\n", body)


def test_unchanged_state_is_never_committed(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    first = write.pause(ctx, ecosystems=("npm",), level="stop", reason="r")
    before = snapshot(registry.path)
    again = write.pause(ctx, ecosystems=("npm",), level="stop", reason="r")
    nothing = write.resume(ctx, ecosystems=("cargo",))
    assert not again.changed and not nothing.changed
    assert again.tip == first.tip == tip(registry.path)
    assert snapshot(registry.path) == before


def test_commits_are_dated_with_the_operation_time(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    assert git(registry.path, "log", "-1", "--format=%ct %at", "batch-ops").split() == \
        [str(int(NOW.timestamp()))] * 2


def test_status_names_the_verified_principal_of_each_pause(registry: Repo) -> None:
    clock = FakeClock()
    ctx = make_ctx(registry.path, clock)
    write.init(ctx)
    write.pause(ctx, ecosystems=("cargo",), level="stop", reason="cargo broken")
    for _ in range(12):  # push the pause out of the "last operations" window
        clock.tick()
        write.new_id(ctx)
    report = status.status(ctx)
    assert report.view.trust.label == "trusted"
    cargo = next(s for s in report.scopes if s.scope == "cargo")
    assert cargo.active and cargo.by == "alice@example.com"
    assert cargo.commit == git(registry.path, "rev-parse", "batch-ops~12").strip()
    assert len(report.recent) == status.RECENT
    assert all(e.principal == "alice@example.com" for e in report.recent)


def test_works_in_a_bare_repository_without_touching_anything(registry: Repo, tmp_path: Path
                                                             ) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry.path), str(bare))
    ctx = make_ctx(bare)
    write.init(ctx)
    write.pause(ctx, ecosystems=("pypi",), level="stop", reason="r")
    assert not gate.gate(ctx, ecosystem="pypi", stage="generate").decision.can_proceed
    assert git(bare, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_working_tree_index_and_head_untouched(registry: Repo) -> None:
    registry.write("recipes/x.toml", "uncommitted\n")
    registry.git("add", "recipes/x.toml")
    before = (registry.git("status", "--porcelain=v2", "--branch"),
              (registry.path / ".git/index").read_bytes())
    ctx = make_ctx(registry.path)
    write.init(ctx)
    write.pause(ctx, ecosystems=(), level="stop", reason="r")
    status.status(ctx)
    after = (registry.git("status", "--porcelain=v2", "--branch"),
             (registry.path / ".git/index").read_bytes())
    assert before == after


# -- ids and landings -----------------------------------------------------------------------------


def test_id_new_counts_up_and_skips_ids_used_on_the_base(registry: Repo) -> None:
    clock = FakeClock()
    ctx = make_ctx(registry.path, clock)
    write.init(ctx)
    assert write.new_id(ctx).reserved_id == "2026-03-01-001"
    assert write.new_id(ctx, ecosystem="cargo").reserved_id == "2026-03-01-002"
    registry.commit("batch\n\nBatch-Id: 2026-03-01-007\n", {"recipes/a.toml": "a\n"})
    registry.commit("legacy\n\nbatch_id: 2026-03-01-005\n", {"recipes/b.toml": "b\n"})
    assert write.new_id(ctx).reserved_id == "2026-03-01-008"
    clock.tick(24 * 60)
    assert write.new_id(ctx).reserved_id == "2026-03-02-001"
    body = git(registry.path, "log", "-1", "--format=%B", "batch-ops~1")
    assert "Batch-Id: 2026-03-01-008" in body and "Id-Floor: 7" in body


def test_id_new_with_an_ecosystem_format(registry: Repo) -> None:

    ctx = make_ctx(registry.path, id_format="{date}-{ecosystem}-{seq:02d}")
    ctx = ctx._replace(config=ctx.config._replace(batch=ctx.config.batch._replace(
        id_pattern=r"^\d{4}-\d{2}-\d{2}-[a-z]+-\d{2}$")))
    write.init(ctx)
    assert write.new_id(ctx, ecosystem="npm").reserved_id == "2026-03-01-npm-01"
    with pytest.raises(UsageError, match="pass --ecosystem"):
        write.new_id(ctx)


def test_land_records_and_read_landings_returns_them(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    assert trust.read_landings(ctx.repo, ctx.config) == {}  # no ops branch yet
    write.init(ctx)
    c1 = registry.commit("squashed batch (#12)\n", {"recipes/a.toml": "a\n"})
    c2 = registry.commit("second part (#13)\n", {"recipes/b.toml": "b\n"})
    write.land(ctx, "2026-03-01-001", ("HEAD~1",))
    write.land(ctx, "2026-03-01-001", (c2, c1))
    again = write.land(ctx, "2026-03-01-001", (c1,))
    assert not again.changed
    assert trust.read_landings(ctx.repo, ctx.config) == {"2026-03-01-001": tuple(sorted((c1, c2)))}


@pytest.mark.parametrize(("batch_id", "rev", "needle"), [
    ("2026-03-01", "HEAD", "does not match the id pattern"),
    ("2026-03-01-001", "nope", "does not name a commit"),
    ("2026-03-01-001", "side", "is not on the base branch"),
    ("2026-03-01-001", "--all", "is not a commit"),
])
def test_land_refuses_bad_input_and_writes_nothing(registry: Repo, batch_id: str, rev: str,
                                                  needle: str) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    registry.git("branch", "side", "main")
    registry.git("checkout", "-q", "side")
    registry.commit("not merged\n", {"recipes/c.toml": "c\n"})
    registry.git("checkout", "-q", "main")
    before = snapshot(registry.path)
    with pytest.raises(UsageError, match=needle):
        write.land(ctx, batch_id, (rev,))
    assert snapshot(registry.path) == before


# -- bad input: nothing written -------------------------------------------------------------------


def test_broken_state_toml_is_refused_naming_the_commit(registry: Repo, signing_key: SigningKey
                                                        ) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    # a validly signed commit (alice's key) whose state.toml is broken: signatures are fine,
    # the state is not
    bad = forge(registry.path, tip(registry.path), {"state.toml": "schema_version = 1\nseq = [\n"},
                key=signing_key)
    registry.git("update-ref", BRANCH, bad)
    before = snapshot(registry.path)
    for call in (lambda: gate.gate(ctx, ecosystem="npm", stage="merge"),
                 lambda: status.status(ctx),
                 lambda: write.pause(ctx, ecosystems=(), level="stop", reason="r")):
        with pytest.raises(StateCorrupt) as err:
            call()
        assert bad[:10] in err.value.message and "state.toml" in err.value.message
    assert snapshot(registry.path) == before
    assert len(status.audit(ctx).entries) == 2  # the audit still reads the history


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"ecosystems": ("rubygems",)}, "unknown ecosystem 'rubygems'"),
    ({"until": "2026-02-01T00:00Z"}, "not in the future"),
    ({"until": "next tuesday"}, "neither a time nor a duration"),
    ({"until": "2026-03-02T10:00"}, "no time zone"),
    ({"reason": "   "}, "must not be empty"),
    ({"incident": "a b"}, "must not contain spaces"),
])
def test_pause_bad_input_writes_nothing(registry: Repo, kwargs: dict[str, object], needle: str
                                        ) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    before = snapshot(registry.path)
    args: dict[str, object] = {"ecosystems": (), "level": "stop", "reason": "r"}
    args.update(kwargs)
    with pytest.raises(UsageError) as err:
        write.pause(ctx, **args)  # type: ignore[arg-type]
    assert needle in err.value.message
    assert snapshot(registry.path) == before


def test_unknown_ecosystem_at_the_gate_names_the_known_ones(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    with pytest.raises(UsageError) as err:
        gate.gate(ctx, ecosystem="rubygems", stage="merge")
    assert "homebrew, cargo, npm, pypi" in str(err.value.hint)


def test_missing_signing_key_explains_how_to_configure_signing(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    registry.git("config", "user.signingkey", "")
    before = snapshot(registry.path)
    with pytest.raises(SigningNotConfigured) as err:
        write.pause(ctx, ecosystems=(), level="stop", reason="r")
    assert "no signing key" in err.value.message
    assert "gpg.format ssh" in str(err.value.hint) and "user.signingkey" in str(err.value.hint)
    registry.git("config", "user.signingkey", "/nonexistent/key.pub")
    with pytest.raises(SigningNotConfigured, match="does not exist"):
        write.pause(ctx, ecosystems=(), level="stop", reason="r")
    registry.git("config", "gpg.format", "openpgp")
    with pytest.raises(SigningNotConfigured, match="only ssh signatures"):
        write.pause(ctx, ecosystems=(), level="stop", reason="r")
    assert snapshot(registry.path) == before


def test_unlisted_signing_key_is_refused_before_writing(registry: Repo, signing_key: SigningKey
                                                        ) -> None:
    ctx = make_ctx(registry.path)
    write.init(ctx)
    mallory = signing_key.new_key("mallory@example.com")
    mallory.use_in(registry.path)
    before = snapshot(registry.path)
    with pytest.raises(SigningNotConfigured, match=r"not in main:\.git-batch/allowed_signers"):
        write.pause(ctx, ecosystems=(), level="stop", reason="r")
    assert snapshot(registry.path) == before


def test_init_without_allowed_signers_on_the_base_is_refused(make_repo, signing_key) -> None:
    repo = make_repo("plain")
    before = snapshot(repo.path)
    with pytest.raises(SigningNotConfigured, match="does not exist"):
        write.init(make_ctx(repo.path))
    assert snapshot(repo.path) == before


def test_missing_identity_is_refused(registry: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_ctx(registry.path)
    for var in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME",
                "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(var)
    registry.git("config", "user.useConfigOnly", "true")
    with pytest.raises(IdentityMissing):
        write.init(ctx)


def test_no_ops_branch_fails_closed(registry: Repo) -> None:
    ctx = make_ctx(registry.path)
    with pytest.raises(OpsBranchMissing) as err:
        gate.gate(ctx, ecosystem="npm", stage="merge")
    assert "git batch ops init" in str(err.value.hint)
    with pytest.raises(OpsBranchMissing):
        write.pause(ctx, ecosystems=(), level="stop", reason="r")


# -- trial mode -----------------------------------------------------------------------------------


def test_require_signed_false_writes_unsigned_and_says_so(registry: Repo) -> None:
    registry.git("config", "user.signingkey", "")  # no key at all
    ctx = make_ctx(registry.path, require_signed=False)
    result = write.init(ctx)
    assert result.changed and not result.signed
    write.pause(ctx, ecosystems=("npm",), level="stop", reason="trial")
    decided = gate.gate(ctx, ecosystem="npm", stage="merge")
    assert not decided.decision.can_proceed and decided.trust == "unverified"
    assert any("require_signed = false" in w for w in decided.warnings)
    assert any("not signed (not enforced)" in w for w in decided.warnings)
    report = status.status(ctx)
    assert report.view.trust.label == "unverified"
    assert "require_signed = false" in report.warnings[0]
