"""Whole-process `git batch` runs of the ops commands: output, exit codes, nothing written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest

from gitops import errors
from gitops.cli.main import main_group
from gitops.ops import write
from tests.conftest import Repo, SigningKey
from tests.ops.conftest import forge, make_ctx, run_cli, snapshot, tip

ROOT = Path(__file__).resolve().parents[2]


def test_pause_gate_resume_through_the_cli(registry: Repo, tmp_path: Path) -> None:
    init = run_cli(registry.path, "ops", "init")
    assert init.returncode == 0 and "created batch-ops at" in init.stdout
    assert "signed by alice@example.com" in init.stdout
    pause = run_cli(registry.path, "pause", "--ecosystem", "homebrew", "--level", "freeze",
                    "--reason", "bad homebrew validation", "--incident", "https://status/INC-7")
    assert pause.returncode == 0, pause.stderr
    assert pause.stdout.startswith("paused homebrew (freeze) at ")
    out = tmp_path / "github_output"
    out.write_text("earlier=1\n")
    gate = run_cli(registry.path, "gate", "--ecosystem", "homebrew", "--github-output",
                   env={"GITHUB_OUTPUT": str(out)})
    assert gate.returncode == 20
    lines = dict(line.split("=", 1) for line in gate.stdout.splitlines())
    assert lines["can_proceed"] == "false" and lines["stage"] == "merge"
    assert "bad homebrew validation" in lines["reason"] and "INC-7" in lines["reason"]
    assert lines["ops_tip"] == tip(registry.path) and lines["trust"] == "trusted"
    written = out.read_text()
    assert written.startswith("earlier=1\ncan_proceed=false\nreason=homebrew: merges are frozen")
    err = gate.stderr.splitlines()
    assert err[0].startswith("git-batch: error: homebrew may not run the merge stage")
    assert err[1].startswith("hint: ") and err[2] == "runbook: docs/runbooks/emergency-stop.md"
    generate = run_cli(registry.path, "gate", "--ecosystem", "homebrew", "--stage", "generate")
    assert generate.returncode == 0 and "can_proceed=true" in generate.stdout
    from_env = run_cli(registry.path, "gate", env={"GIT_BATCH_ECOSYSTEM": "homebrew",
                                                   "GIT_BATCH_STAGE": "generate"})
    assert from_env.returncode == 0
    resume = run_cli(registry.path, "resume", "--ecosystem", "homebrew", "--reason", "fixed")
    assert resume.returncode == 0 and resume.stdout.startswith("resumed homebrew at ")
    again = run_cli(registry.path, "resume", "--ecosystem", "homebrew")
    assert again.returncode == 0 and "nothing written" in again.stdout


def test_status_json_when_piped_and_table_on_request(registry: Repo) -> None:
    assert run_cli(registry.path, "ops", "init").returncode == 0
    assert run_cli(registry.path, "pause", "--ecosystem", "npm", "--reason", "npm registry down",
                   "--until", "2h").returncode == 0
    res = run_cli(registry.path, "status")
    assert res.returncode == 0
    doc = json.loads(res.stdout)
    assert doc["trust"]["state"] == "trusted" and doc["trust"]["tip_signer"] == "alice@example.com"
    npm = doc["ecosystems"]["npm"]
    assert npm["paused"] and npm["by"] == "alice@example.com" and npm["until"]
    assert doc["global"] == {"paused": False}
    assert [e["op"] for e in doc["recent"]] == ["pause", "init"]
    table = run_cli(registry.path, "status", "--text")
    first, *rest = table.stdout.splitlines()
    assert first.startswith("TRUSTED ops state batch-ops ")
    row = next(line for line in rest if line.startswith("npm "))
    assert "PAUSED" in row and "alice@example.com" in row and "npm registry down" in row


def test_id_new_prints_only_the_id(registry: Repo) -> None:
    assert run_cli(registry.path, "ops", "init").returncode == 0
    res = run_cli(registry.path, "id", "new", "--ecosystem", "cargo")
    assert res.returncode == 0
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-001\n", res.stdout)
    assert "reserved" in res.stderr
    doc = json.loads(run_cli(registry.path, "id", "new", "--json").stdout)
    assert doc["id"].endswith("-002") and doc["commit"] == tip(registry.path)


def test_land_and_audit(registry: Repo) -> None:
    assert run_cli(registry.path, "ops", "init").returncode == 0
    land = run_cli(registry.path, "land", "2026-03-01-001", "HEAD")
    assert land.returncode == 0 and "recorded 1 commit(s) of 2026-03-01-001" in land.stdout
    audit = run_cli(registry.path, "audit")
    assert audit.returncode == 0
    assert audit.stdout.splitlines()[0].startswith("TRUSTED")
    assert audit.stdout.count("verified alice@example.com") == 2
    doc = json.loads(run_cli(registry.path, "audit", "--json", "-n", "1").stdout)
    assert len(doc["entries"]) == 1 and doc["entries"][0]["op"] == "land"


@pytest.mark.parametrize(("setup", "args", "code", "needle"), [
    ("none", ("gate", "--ecosystem", "npm"), 25, "there is no ops branch"),
    ("init", ("gate", "--ecosystem", "rubygems"), 2, "known ecosystems: homebrew, cargo"),
    ("init", ("pause", "--reason", "r", "--until", "2001-01-01T00:00Z"), 2, "not in the future"),
    ("init", ("pause", "--reason", "r", "--until", "soon"), 2, "neither a time nor a duration"),
    ("init", ("pause", "--reason", "r", "--ecosystem", "maven"), 2, "unknown ecosystem 'maven'"),
    ("init", ("gate", "--ecosystem", "npm", "--fetch", "gone"), 22, "cannot reach remote 'gone'"),
    ("init", ("pause", "--reason", "r", "--push", "gone"), 22, "cannot reach remote 'gone'"),
    ("init", ("gate", "--ecosystem", "npm", "--github-output"), 2, "GITHUB_OUTPUT"),
    ("nokey", ("pause", "--reason", "r"), 23, "no signing key"),
    ("corrupt", ("status",), 24, "state.toml is not a valid ops state"),
    ("corrupt", ("pause", "--reason", "r"), 24, "state.toml is not a valid ops state"),
])
def test_errors_exit_codes_and_nothing_written(  # noqa: PLR0917
        registry: Repo, signing_key: SigningKey, setup: str, args: tuple[str, ...], code: int,
        needle: str) -> None:
    if setup != "none":
        write.init(make_ctx(registry.path))
    registry.git("remote", "add", "gone", str(registry.path.parent / "missing.git"))
    if setup == "nokey":
        registry.git("config", "user.signingkey", "")
    if setup == "corrupt":
        bad = forge(registry.path, tip(registry.path), {"state.toml": "seq = 'x'\n"},
                    key=signing_key)
        registry.git("update-ref", "refs/heads/batch-ops", bad)
    before = snapshot(registry.path)
    res = run_cli(registry.path, *args)
    assert res.returncode == code, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    err = [line for line in res.stderr.splitlines() if not line.startswith("git-batch: warning")]
    assert err[0].startswith("git-batch: error: ") and err[1].startswith("hint: ")
    assert len(err) <= 3
    if setup == "corrupt":
        assert tip(registry.path)[:10] in res.stderr
    assert snapshot(registry.path) == before


def test_trial_mode_says_so_everywhere(registry: Repo) -> None:
    registry.git("config", "user.signingkey", "")
    (registry.path / ".git-batch.toml").write_text("[ops]\nrequire_signed = false\n")
    init = run_cli(registry.path, "ops", "init")
    assert init.returncode == 0 and "NOT signed" in init.stdout and "trial" in init.stdout
    gate = run_cli(registry.path, "gate", "--ecosystem", "npm")
    assert gate.returncode == 0 and "trust=unverified" in gate.stdout
    assert "require_signed = false" in gate.stderr
    status = run_cli(registry.path, "status", "--text")
    assert status.returncode == 0
    assert status.stdout.startswith("UNVERIFIED ops state") and "trial mode" in status.stdout
    audit = run_cli(registry.path, "audit")
    assert audit.stdout.startswith("UNVERIFIED ops state")


def test_every_ops_error_has_a_runbook_with_the_template() -> None:
    ours = [errors.Paused, errors.StateUntrusted, errors.RemoteUnreachable,
            errors.SigningNotConfigured, errors.StateCorrupt, errors.OpsBranchMissing,
            errors.OpsDiverged, errors.StateConflict]
    assert all(cls in errors.ERROR_CLASSES for cls in ours)
    assert sorted(cls.exit_code for cls in ours) == [20, 21, 22, 23, 24, 25, 26, 75]
    for cls in ours:
        assert cls.runbook is not None and (ROOT / cls.runbook).is_file()


RUNBOOKS = ["emergency-stop.md", "state-untrusted.md", "state-conflict.md",
            "remote-unreachable.md", "signing-not-configured.md", "state-corrupt.md",
            "ops-branch-missing.md", "ops-diverged.md"]


def _commands(text: str) -> list[list[str]]:
    out = []
    for raw in text.splitlines():
        line = raw.strip().removeprefix("$ ")
        if line.startswith("git batch "):
            command = line.split("  #", 1)[0].split(" | ", 1)[0].split(" && ", 1)[0]
            out.append(shlex.split(command)[2:])
    return out


@pytest.mark.parametrize("page", [*RUNBOOKS, "../ops.md"])
def test_runbook_commands_parse(page: str) -> None:
    """Every `git batch ...` line in the ops runbooks and guide names real commands and options,
    so the pages cannot rot when the CLI changes."""
    commands = _commands((ROOT / "docs" / "runbooks" / page).read_text())
    assert commands, page
    for argv in commands:
        words = list(argv)
        while words and words[0] in ("--repo", "--config", "--base", "--debug"):
            words = words[1:] if words[0] == "--debug" else words[2:]
        cmd: click.Command = main_group
        parent = click.Context(main_group, info_name="git batch")
        while isinstance(cmd, click.Group) and words and (
                sub := cmd.get_command(parent, words[0])) is not None:
            words.pop(0)
            cmd = sub
        assert cmd is not main_group and not isinstance(cmd, click.Group), (page, argv)
        try:
            cmd.make_context(cmd.name or "", words, parent=parent)
        except click.ClickException as exc:  # pragma: no cover - the failure message
            raise AssertionError(f"{page}: git batch {shlex.join(argv)}: {exc}") from None
