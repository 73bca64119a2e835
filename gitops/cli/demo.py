"""`demo`: build a sample registry to try every command on."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from gitops import demo
from gitops.cli.common import emit


@click.command("demo")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--commits", default=120, show_default=True, help="Commits on main.")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same repo).")
@click.option("--bare", is_flag=True, help="Make a bare repository.")
def demo_cmd(path: str | None, commits: int, seed: int, bare: bool) -> None:
    """Build a realistic sample registry to try every command on

    Recipes with dependencies, several batches (trailer, legacy 'batch_id:' line, squash
    merge with its pull request ref, merge commit), human edits after batches, in-flight
    branches. Deterministic: the same --seed gives the same commit ids, except the last commit
    of main, which lists a fresh signing key of the demo's operator (kept in the git dir and
    configured in this repository only); the ops branch is created, signed with it, and
    published to an 'origin' that is a bare repository inside the git dir.

    \b
    Example:
      git batch demo /tmp/registry && cd /tmp/registry && git batch list
      git batch demo /tmp/big --commits 200000
    """
    target = Path(path) if path else Path(tempfile.mkdtemp(prefix="git-batch-demo-"))
    info = demo.generate(target, commits=commits, seed=seed, bare=bare, operator=True)
    emit(demo.describe(info))


