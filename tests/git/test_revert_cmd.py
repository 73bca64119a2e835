"""`git batch revert|reapply` without click (gitops/revert_cmd.py) says what the click commands say.

The parser is compared with click's own parsing (hypothesis); whole processes are compared on
a registry: the console script (fast path) against `gitops.cli.main` (click), same arguments,
each on its own copy of the repository: same stdout, stderr and exit code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops import revert_cmd
from gitops.cli import revert_cmd as click_revert
from tests.conftest import Repo, cli_env
from tests.git.test_revert import B, registry  # noqa: F401 - the fixture

TOKENS = [B, "2026-03-03-002", "--dry-run", "--json", "--on-conflict", "skip", "merge", "bad",
          "--on-conflict=merge", "--only", "recipes/a/alpha.toml", "zlib", "--only=beta",
          "--with-dependents", "--allow-broken-deps", "--onto", "main", "--branch", "fix/x",
          "--branch=y", "--force-branch", "--push", "origin", "--exit-code", "--dry-run=1",
          "-h", "--help", "--", "-x", "", "--bogus"]


def click_parse(argv: list[str]) -> tuple[str, dict[str, object]] | None:
    try:
        ctx = click_revert.make_context("revert", list(argv))
    except (click.exceptions.UsageError, click.exceptions.Exit):
        return None
    params = dict(ctx.params)
    batch_id = params.pop("batch_id")
    params["only"] = tuple(params["only"])
    return batch_id, params


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_fast_parser_agrees_with_click_or_leaves_it_to_click(argv: list[str]) -> None:
    fast = revert_cmd.parse(argv)
    if fast is not None:
        assert fast == click_parse(argv)


def test_fast_parser_takes_the_forms_operators_type() -> None:
    batch_id, kw = revert_cmd.parse([B, "--dry-run", "--only", "a", "--only=b",
                                     "--on-conflict", "skip", "--push", "origin"]) or ("", {})
    assert batch_id == B
    assert kw == {**revert_cmd.defaults(), "dry_run": True, "only": ("a", "b"),
                  "on_conflict": "skip", "push": "origin"}
    for leave in (["-h"], ["--help"], ["--", B], [B, "--on-conflict", "bad"], [B, B], [],
                  [B, "--only"], [B, "--bogus"]):
        assert revert_cmd.parse(leave) is None, leave


def _run(repo: Path, args: tuple[str, ...], via_click: bool) -> tuple[int, str, str]:
    env = cli_env()
    argv: tuple[str, ...] = ("git", "batch", *args)
    if via_click:
        code = "import sys; from gitops.cli import main; sys.argv[0] = 'git-batch'; main()"
        argv = (sys.executable, "-c", code, *args)
    proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_revert_fast_and_click_print_the_same(registry: Repo, tmp_path: Path) -> None:  # noqa: F811
    cases = [
        (("revert", B, "--dry-run"), 0),
        (("revert", B, "--dry-run", "--json"), 0),
        (("revert", "2026-03-03-999"), 7),
        (("revert", "not-an-id"), 2),
        (("revert", B, "--onto", "nowhere"), 6),
        (("revert", B), 0),
        (("reapply", B, "--dry-run", "--exit-code"), 10),
        (("revert", B, "--on-conflict", "bad"), 2),  # click's usage error, both ways
    ]
    for i, (args, expected) in enumerate(cases):
        results = []
        for via_click in (False, True):
            copy = tmp_path / f"{i}-{via_click}"
            shutil.copytree(registry.path, copy, symlinks=True)
            results.append(_run(copy, args, via_click))
        assert results[0] == results[1], args
        assert results[0][0] == expected, (args, results[0])


def test_revert_fast_path_does_not_import_click(registry: Repo) -> None:  # noqa: F811
    proc = subprocess.run((sys.executable, "-X", "importtime", "-c",
                           f"import sys; sys.argv = ['git-batch', 'revert', '{B}', '--dry-run']\n"
                           "from gitops import entry\nentry.main()"),
                          cwd=registry.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "gitops.revert" in imported  # the list is real
    assert "click" not in imported
