"""`git batch gate` without click (gitops/gate.py) must say exactly what the click command says.

The parser is compared with click's own parsing of the same arguments and environment
(hypothesis); the whole command is compared as processes: the console script (fast path) and
`gitops.cli.main` (click), same repository, same arguments: same stdout, stderr, exit code and
$GITHUB_OUTPUT lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops import gate
from gitops.cli_ops import gate_cmd
from tests.conftest import Repo, cli_env
from tests.ops.conftest import run_cli

TOKENS = ["--ecosystem", "cargo", "homebrew", "--stage", "merge", "generate", "build",
          "--github-output", "--candidate", "pkg-a", "--fetch", "origin", "-h", "--help",
          "--ecosystem=npm", "--stage=generate", "--stage=", "--fetch=up", "--candidate=b",
          "--github-output=1", "--bogus", "-", "--", ""]
ENV_VARS = {"GIT_BATCH_ECOSYSTEM": ["", "cargo", "pypi"],
            "GIT_BATCH_STAGE": ["", "merge", "generate", "nope"],
            "GIT_BATCH_FETCH": ["", "origin"],
            "GIT_BATCH_GITHUB_OUTPUT": ["", "1", "true", "no", "Off", "maybe"]}
envs = st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in ENV_VARS.items()})


def click_parse(argv: list[str], env: dict[str, str]) -> gate.GateArgs | None:
    """What the click command would run with (None: click refuses or prints help)."""
    with mock.patch.dict(os.environ, env, clear=True):
        try:
            ctx = gate_cmd.make_context("gate", list(argv))
        except (click.exceptions.UsageError, click.exceptions.Exit):
            return None
    p = ctx.params
    return gate.GateArgs(p["ecosystem"], p["stage"], p["github_output"], tuple(p["candidates"]),
                         p["fetch"])


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7), envs)
def test_fast_parser_agrees_with_click_or_leaves_it_to_click(argv: list[str],
                                                              env: dict[str, str]) -> None:
    fast = gate.parse(argv, env)
    if fast is not None:
        assert fast == click_parse(argv, env)


def test_fast_parser_takes_the_forms_ci_uses() -> None:
    env = {"GIT_BATCH_ECOSYSTEM": "cargo"}
    assert gate.parse([], env) == gate.GateArgs("cargo")
    assert gate.parse(["--ecosystem", "npm", "--stage=generate", "--candidate", "a",
                       "--candidate=b", "--fetch", "origin", "--github-output"], {}) == (
        gate.GateArgs("npm", "generate", True, ("a", "b"), "origin"))
    for leave in (["--help"], ["-h"], ["--ecosystem"], ["--stage", "build"], ["--bogus"]):
        assert gate.parse(["--ecosystem", "npm", *leave], {}) is None, leave


def _click(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The same command through click (gitops.cli.main), bypassing entry.py's fast path."""
    full = cli_env(env)
    code = "import sys; from gitops.cli import main; sys.argv[0] = 'git-batch'; main()"
    return subprocess.run((sys.executable, "-c", code, *args), cwd=repo, capture_output=True,
                          text=True, env=full)


def _same(repo: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> int:
    outputs = []
    for name, runner in (("fast", run_cli), ("click", _click)):
        out_file = tmp_path / f"github-output-{name}"
        extra = {"GITHUB_OUTPUT": str(out_file), **(env or {})}
        proc = runner(repo, *args, env=extra)
        written = out_file.read_text() if out_file.exists() else None
        outputs.append((proc.returncode, proc.stdout, proc.stderr, written))
    assert outputs[0] == outputs[1], args
    return outputs[0][0]


def test_gate_fast_and_click_print_the_same(registry: Repo, tmp_path: Path) -> None:
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "cargo") == 25  # no ops branch
    assert run_cli(registry.path, "ops", "init").returncode == 0
    assert run_cli(registry.path, "pause", "--ecosystem", "homebrew", "--level", "freeze",
                   "--reason", "bad validation").returncode == 0
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "cargo") == 0
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "homebrew") == 20
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "homebrew", "--stage",
                 "generate", "--github-output", "--candidate", "a") == 0
    assert _same(registry.path, tmp_path, "gate", env={"GIT_BATCH_ECOSYSTEM": "homebrew",
                                                       "GIT_BATCH_GITHUB_OUTPUT": "yes"}) == 20
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "no such") == 2
    assert _same(registry.path, tmp_path, "gate", "--ecosystem", "cargo", "--fetch",
                 "nowhere") == 22
    # left to click: its usage errors
    assert _same(registry.path, tmp_path, "gate", "--stage", "build", "--ecosystem", "x") == 2


def test_gate_fast_path_does_not_import_click(registry: Repo) -> None:
    proc = subprocess.run((sys.executable, "-X", "importtime", "-c",
                           "import sys; sys.argv = ['git-batch', 'gate', '--ecosystem', 'cargo']\n"
                           "from gitops import entry\nentry.main()"),
                          cwd=registry.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 25, proc.stderr  # no ops branch
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "gitops.ops_view" in imported  # the list is real
    assert not {"click", "pygit2", "subprocess", "gitops.ops"} & imported


@pytest.mark.parametrize("word", ["1", "true", "YES", "on"])
def test_github_output_variable_words(word: str) -> None:
    assert gate.parse(["--ecosystem", "a"], {"GIT_BATCH_GITHUB_OUTPUT": word}) == (
        gate.GateArgs("a", github_output=True))
