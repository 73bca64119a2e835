"""Real `git commit` and `git push` with the git-batch hooks installed (issue 7)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitops import resources
from tests.conftest import Repo, git
from tests.hooks.conftest import batch, commit, run

ID = "2026-01-28-001"
TRAILER = f"Batch-Id: {ID}\n"


def test_resources_finds_every_shim() -> None:
    shims = resources.hook_shims()
    assert set(shims) == {"commit-msg", "prepare-commit-msg", "pre-push", "pre-receive"}
    for name, text in shims.items():
        lines = text.splitlines()
        assert lines[0] == "#!/bin/sh" and lines[1] == "# gitops-hook v1", name
        assert f"hook-impl {name} --" in text and len(lines) <= 12, name
        assert (Path(__file__).parents[2] / "hooks" / name).read_text() == text


def test_commit_without_trailer_is_refused_and_with_one_accepted(hooked: Repo) -> None:
    res = commit(hooked, "add foo\n", {"recipes/foo.toml": "x\n"})
    assert res.returncode != 0
    assert "refused this commit: touches managed paths (recipes/foo.toml) without a " \
           "'Batch-Id:' trailer." in res.stderr
    assert "fix: add 'Batch-Id: <id>'" in res.stderr
    assert "runbook: docs/runbooks/commit-refused.md" in res.stderr
    res = commit(hooked, f"add foo\n\n{TRAILER}", {})
    assert res.returncode == 0, res.stderr
    assert "no ops branch (batch-ops): pauses are not checked." in res.stderr


def test_commit_outside_managed_paths_needs_no_trailer(hooked: Repo) -> None:
    res = commit(hooked, "docs\n", {"docs/x.md": "x\n"})
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_prepare_commit_msg_adds_the_trailer_from_the_environment(hooked: Repo) -> None:
    res = commit(hooked, "add foo\n", {"recipes/foo.toml": "x\n"},
                 env={"GIT_BATCH_ID": ID, "GIT_BATCH_ECOSYSTEM": "cargo"})
    assert res.returncode == 0, res.stderr
    assert hooked.git("log", "-1", "--format=%B") == \
        f"add foo\n\nBatch-Id: {ID}\nBatch-Ecosystem: cargo\n\n"


@pytest.mark.parametrize(("message", "needle"), [
    ("add\n\nBatch-Id: 2026-1-1\n", "'Batch-Id: 2026-1-1' does not match the id pattern"),
    ("add\n\nBatch-Id: 2026-01-28-001\nBatch-Id: 2026-01-28-002\n",
     "names 2 different batch ids: 2026-01-28-001, 2026-01-28-002."),
    ("add\n\nbatch_id: 2026-01-28-001\n",
     "'batch_id: 2026-01-28-001' is the legacy form: git does not read it as a trailer"),
    # 2 trailers and 7 prose lines: under git's 25 % rule the paragraph is no trailer block
    ("add\n\nSigned-off-by: A <a@example.com>\n" + "prose\n" * 7 + "Batch-Id: 2026-01-28-001\n",
     "'Batch-Id: 2026-01-28-001' is not in the final trailer block as git parses it"),
    ("add\n\nBatch-Id: 2026-01-28-001\nsome prose after it\n",
     "is not in the final trailer block"),
])
def test_every_trailer_refusal_has_a_reason_and_a_fix(hooked: Repo, message: str,
                                                      needle: str) -> None:
    res = commit(hooked, message, {"recipes/foo.toml": "x\n"})
    assert res.returncode == 1, res.stderr  # git commit exits 1 whatever the hook's code
    assert needle in res.stderr
    assert "\n  fix: " in res.stderr
    assert commit(hooked, message, {}, verify=False).returncode == 0
    res = batch(hooked.path, "check", "--range", "HEAD~1..HEAD")
    assert res.returncode == 30 and needle in res.stdout


def test_foreign_hook_is_kept_unless_chain_and_then_runs_first(make_repo, tmp_path: Path
                                                               ) -> None:
    repo = make_repo("foreign")
    hooks = repo.path / ".git" / "hooks"
    log = tmp_path / "foreign.log"
    foreign = hooks / "commit-msg"
    foreign.write_text(f"#!/bin/sh\necho ran >> {log}\ngrep -q forbidden \"$1\" && exit 7\n"
                       "exit 0\n")
    foreign.chmod(0o755)
    res = batch(repo.path, "hooks", "install")
    assert res.returncode == 34
    assert "hooks that git-batch did not write are in the way" in res.stderr
    assert "--chain" in res.stderr
    assert not (hooks / "pre-push").exists()  # nothing written
    res = batch(repo.path, "hooks", "install", "--chain")
    assert res.returncode == 0, res.stderr
    assert (hooks / "commit-msg.legacy").exists()
    assert "(chained .legacy runs first)" in batch(repo.path, "hooks", "status").stdout
    res = commit(repo, "forbidden\n", {"docs/a.md": "a\n"})
    assert res.returncode == 1 and "refused" not in res.stderr  # the legacy hook said no
    res = commit(repo, "add\n", {"recipes/foo.toml": "x\n"})
    assert res.returncode == 1 and "refused" in res.stderr and log.read_text() == "ran\nran\n"
    res = batch(repo.path, "hooks", "uninstall")
    assert res.returncode == 0, res.stderr
    assert foreign.read_text().startswith("#!/bin/sh\necho ran")
    assert not (hooks / "commit-msg.legacy").exists() and not (hooks / "pre-push").exists()


def test_install_respects_core_hooks_path_and_is_idempotent(make_repo) -> None:
    repo = make_repo("hookspath")
    repo.git("config", "core.hooksPath", "ci-hooks")
    res = batch(repo.path, "hooks", "install")
    assert res.returncode == 0, res.stderr
    assert f"hooks directory: {repo.path / 'ci-hooks'} (core.hooksPath = ci-hooks)" in res.stdout
    assert resources.MARKER_PREFIX in (repo.path / "ci-hooks" / "commit-msg").read_text()
    assert not (repo.path / ".git" / "hooks" / "commit-msg").exists()
    again = batch(repo.path, "hooks", "install")
    assert "installed: nothing (already so)" in again.stdout
    assert commit(repo, "add\n", {"recipes/foo.toml": "x\n"}).returncode == 1
    status = json.loads(batch(repo.path, "hooks", "status", "--json").stdout)
    assert {h["name"]: h["state"] for h in status["hooks"]}["commit-msg"] == "ours"
    assert status["core_hooks_path"] == "ci-hooks"


def test_pre_receive_refuses_a_squash_that_dropped_the_trailers(hooked: Repo, remote: Path
                                                                ) -> None:
    assert commit(hooked, "squash of #12\n", {"recipes/foo.toml": "x\n"},
                  verify=False).returncode == 0
    res = run(hooked.path, "git", "push", "--no-verify", "origin", "HEAD:refs/heads/main")
    assert res.returncode != 0
    assert "remote: git-batch: pre-receive: refused" in res.stderr
    assert "without a 'Batch-Id:' trailer." in res.stderr
    assert "keep the trailers in the squash" in res.stderr
    assert "pre-receive hook declined" in res.stderr
    git(hooked.path, "commit", "--amend", "-q", "--no-verify", "-m", f"squash of #12\n\n{TRAILER}")
    res = run(hooked.path, "git", "push", "--no-verify", "origin", "HEAD:refs/heads/main")
    assert res.returncode == 0, res.stderr
    assert git(remote, "rev-parse", "main").strip() == hooked.head()


def test_pre_push_refuses_commits_made_with_no_verify(hooked: Repo, remote: Path) -> None:
    commit(hooked, "sneaky\n", {"recipes/foo.toml": "x\n"}, verify=False)
    res = run(hooked.path, "git", "push", "origin", "HEAD:refs/heads/main")
    assert res.returncode != 0
    assert "git-batch: pre-push: refused" in res.stderr
    assert "remote:" not in res.stderr  # stopped before anything was sent
    assert git(remote, "rev-parse", "main").strip() != hooked.head()


def _trial_ops(repo: Repo, *, pause: str | None) -> None:
    commit(repo, "config\n", {".git-batch.toml": "[ops]\nrequire_signed = false\n"})
    assert batch(repo.path, "ops", "init").returncode == 0
    if pause:
        res = batch(repo.path, "pause", "--ecosystem", pause, "--reason", "bad run")
        assert res.returncode == 0, res.stderr


def test_batch_commit_for_a_paused_ecosystem_is_refused(hooked: Repo) -> None:
    _trial_ops(hooked, pause="cargo")
    res = commit(hooked, f"add\n\n{TRAILER}Batch-Ecosystem: cargo\n", {"recipes/foo.toml": "x\n"})
    assert res.returncode == 1
    assert "batch commits for cargo are paused: cargo: stopped since" in res.stderr
    assert "fix: wait for 'git batch resume'" in res.stderr
    res = commit(hooked, f"add\n\n{TRAILER}Batch-Ecosystem: npm\n", {})
    assert res.returncode == 0, res.stderr
    # an open breaker (issue 6) blocks too, read from the same verified state
    res = batch(hooked.path, "breaker", "trip", "npm", "--reason", "too many failures")
    assert res.returncode == 0, res.stderr
    res = commit(hooked, f"more\n\n{TRAILER}Batch-Ecosystem: npm\n", {"recipes/bar.toml": "y\n"})
    assert res.returncode == 1
    assert "batch commits for npm are blocked: breaker of npm tripped by hand" in res.stderr
    assert "'git batch breaker reset npm'" in res.stderr
    # commit-msg verified the ops tip ahead (entry.py): nothing of that check is left behind
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    assert not list(tmp.glob("git-batch-allowed-signers-*"))


def test_untrusted_ops_state_fails_closed(hooked: Repo) -> None:
    _trial_ops(hooked, pause=None)
    # the same unsigned ops branch, now that signatures are required
    commit(hooked, "config\n", {".git-batch.toml": "[ops]\nrequire_signed = true\n"})
    res = commit(hooked, f"add\n\n{TRAILER}", {"recipes/foo.toml": "x\n"})
    assert res.returncode == 1
    assert "the ops branch does not verify, so pauses cannot be read" in res.stderr


def test_reintroducing_a_reverted_batch_needs_reapplies_batch(hooked: Repo) -> None:
    assert commit(hooked, f"add\n\n{TRAILER}", {"recipes/foo.toml": "x\n"}).returncode == 0
    res = batch(hooked.path, "revert", ID)
    assert res.returncode == 0, res.stderr
    hooked.git("merge", "-q", "--ff-only", f"batch-revert/{ID}")
    res = commit(hooked, f"again\n\n{TRAILER}", {"recipes/foo.toml": "x\n"})
    assert res.returncode == 1
    assert f"batch {ID} was reverted on the base; this commit brings its files back." in res.stderr
    assert f"'git batch reapply {ID}'" in res.stderr
    res = commit(hooked, f"again\n\n{TRAILER}Reapplies-Batch: {ID}\n", {})
    assert res.returncode == 0, res.stderr


def test_check_range_json_and_environment(hooked: Repo) -> None:
    base = hooked.head()
    commit(hooked, f"ok\n\n{TRAILER}", {"recipes/a.toml": "a\n"}, verify=False)
    bad = commit(hooked, "bad\n", {"recipes/b.toml": "b\n"}, verify=False)
    assert bad.returncode == 0
    res = batch(hooked.path, "check", "--range", f"{base}..HEAD", "--json")
    assert res.returncode == 30
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["commits_checked"] == 2 and doc["exit_code"] == 30
    [refusal] = doc["refusals"]
    assert refusal["commit"] == hooked.head() and refusal["rule"] == "missing-trailer"
    assert refusal["error"] == "TrailerRefused" and "squash" in refusal["fix"]
    assert doc["ranges"] == [{"from": base, "to": hooked.head()}]
    # merge_group: the range comes from the environment
    res = batch(hooked.path, "check", env={"GIT_BATCH_RANGE": f"{base}..HEAD~1"})
    assert res.returncode == 0 and "ok: 1 commit(s) checked" in res.stdout


@pytest.mark.parametrize("bad", ["HEAD", "--output=/tmp/x..HEAD", "nope..HEAD", "a...b"])
def test_check_range_rejects_bad_ranges(hooked: Repo, bad: str) -> None:
    res = batch(hooked.path, "check", f"--range={bad}")
    assert res.returncode == 2, res.stderr


def test_hooks_policy_config_errors_name_file_and_key(hooked: Repo) -> None:
    hooked.write(".git-batch.toml", "[hooks]\nrequire_trailer = \"always\"\n")
    res = batch(hooked.path, "check", "--range", "HEAD..HEAD")
    assert res.returncode == 5
    assert ".git-batch.toml: key 'hooks.require_trailer' must be 'managed', 'bots' or 'off'" \
        in res.stderr


def test_policy_bots_only_exempts_people(hooked: Repo) -> None:
    commit(hooked, "policy\n", {".git-batch.toml": "[hooks]\nrequire_trailer = \"bots\"\n"
                                "bot_identities = [\"*[bot]@users.noreply.github.com\"]\n"})
    assert commit(hooked, "human\n", {"recipes/a.toml": "a\n"}).returncode == 0
    res = commit(hooked, "bot\n", {"recipes/b.toml": "b\n"},
                 env={"GIT_AUTHOR_EMAIL": "renovate[bot]@users.noreply.github.com"})
    assert res.returncode == 1 and "refused" in res.stderr


@pytest.mark.skipif(shutil.which("pre-commit", path=str(Path(sys.executable).parent)) is None,
                    reason="pre-commit is not installed in the test venv (pip install -e '.[dev]')")
def test_pre_commit_framework_runs_the_declared_hooks(make_repo, tmp_path: Path) -> None:
    """`repo: local` with the entries of .pre-commit-hooks.yaml: no network at test time."""
    declared = (Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "id: git-batch-commit-msg" in declared and "stages: [commit-msg]" in declared
    assert "id: git-batch-pre-push" in declared and "stages: [pre-push]" in declared
    repo = make_repo("framework")
    local = declared.replace("language: python", "language: system")
    body = "\n".join("    " + line for line in local.splitlines() if not line.startswith("#"))
    repo.write(".pre-commit-config.yaml", f"repos:\n- repo: local\n  hooks:\n{body}\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "pre-commit config")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pc-home")}
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    res = run(repo.path, pre_commit, "install", "-t", "commit-msg", "-t", "pre-push", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    res = commit(repo, "add\n", {"recipes/a.toml": "a\n"}, env=env)
    assert res.returncode != 0
    assert "without a 'Batch-Id:' trailer" in res.stdout + res.stderr
    res = commit(repo, f"add\n\n{TRAILER}", {}, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_hook_impl_unknown_name_is_a_usage_error(hooked: Repo) -> None:
    res = run(hooked.path, "git-batch", "hook-impl", "post-checkout", "--")
    assert res.returncode == 2 and "not a hook git-batch implements" in res.stderr
    helped = subprocess.run(["git", "batch", "hook-impl", "--help"], capture_output=True,
                            cwd=hooked.path, text=True)
    assert helped.returncode == 0 and "Example:" in helped.stdout
