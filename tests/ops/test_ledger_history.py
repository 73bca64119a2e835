"""Landings recorded with `git batch land` are a membership source of history and apply."""

from __future__ import annotations

import json
from collections.abc import Callable

from gitops.context import load_context
from gitops.history import query
from gitops.revert import apply
from tests.conftest import Repo, SigningKey
from tests.ops.conftest import run_cli

B = "2026-03-03-001"


def ctx_of(repo: Repo):  # type: ignore[no-untyped-def]
    return load_context(str(repo.path), None, None, {})


def test_landed_commit_counts_in_index_cold_path_and_revert(
        make_repo: Callable[..., Repo], signing_key: SigningKey) -> None:
    repo = make_repo()
    signing_key.allow(repo)
    landed = repo.commit("Add recipes (merge queue dropped the trailers)\n",
                         {"recipes/l/landed.toml": 'name = "landed"\n'})
    assert run_cli(repo.path, "ops", "init").returncode == 0
    assert query.list_batches(ctx_of(repo)) == []
    res = run_cli(repo.path, "land", B, landed)
    assert res.returncode == 0, res.stderr
    rows = query.list_batches(ctx_of(repo))  # the ops tip moved: the index re-reads the ledger
    assert [(r.batch_id, r.sources) for r in rows] == [(B, ("ledger",))]
    for use_index in (True, False):
        report = query.show(ctx_of(repo), B, use_index=use_index)
        assert [(m.commit.oid, m.source) for m in report.members] == [(landed, "ledger")]
        assert report.files.added == ("recipes/l/landed.toml",)
    shown = json.loads(run_cli(repo.path, "show", B, "--json").stdout)
    assert shown["sources"] == ["ledger"]
    out = apply.run(ctx_of(repo), B, "revert", apply.Options())
    assert {f.path: f.outcome for f in out.plan.files} == {"recipes/l/landed.toml": "delete"}


def test_untrusted_ledger_is_ignored_by_history(
        make_repo: Callable[..., Repo], signing_key: SigningKey) -> None:
    repo = make_repo()
    signing_key.allow(repo)
    landed = repo.commit("Add recipes\n", {"recipes/l/landed.toml": 'name = "landed"\n'})
    assert run_cli(repo.path, "ops", "init").returncode == 0
    assert run_cli(repo.path, "land", B, landed).returncode == 0
    # an unsigned commit on top of the ops branch: the state no longer verifies
    forged = repo.git("commit-tree", "--no-gpg-sign", "-m", "forged", "batch-ops^{tree}",
                      "-p", "batch-ops").strip()
    repo.git("update-ref", "refs/heads/batch-ops", forged)
    res = run_cli(repo.path, "list", "--json")
    assert res.returncode == 0
    assert json.loads(res.stdout)["batches"] == []
    assert "landings on the ops branch ignored" in res.stderr


def test_revert_commit_is_signed_when_git_signs_commits(
        make_repo: Callable[..., Repo], signing_key: SigningKey) -> None:
    repo = make_repo()
    signing_key.allow(repo)
    repo.commit(f"bot\n\nBatch-Id: {B}\n", {"recipes/a/a.toml": 'name = "a"\n'})
    repo.git("config", "commit.gpgSign", "true")
    out = apply.run(ctx_of(repo), B, "revert", apply.Options())
    assert out.commit is not None
    allowed = repo.path / ".git-batch" / "allowed_signers"
    repo.git("config", "gpg.ssh.allowedSignersFile", str(allowed))
    assert repo.git("log", "-1", "--format=%G?", out.commit).strip() == "G"
