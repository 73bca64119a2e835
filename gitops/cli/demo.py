"""`demo`: build a sample registry to try every command on."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from gitops import demo, messy
from gitops.cli.common import emit


@click.command("demo")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--commits", type=int, help=f"Commits on main [default: {demo.DEFAULT_COMMITS}; "
              f"with --messy {messy.DEFAULT_COMMITS}].")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same repo).")
@click.option("--bare", is_flag=True, help="Make a bare repository.")
@click.option("--messy", "messy_", is_flag=True,
              help="A registry with the history real ones have: custom-subject squashes of "
                   "fixed-up pull requests, split and partial landings, stacked pull requests, "
                   "mass migrations, adoptions, hand deletions, several alias tables, duplicate "
                   "branches, a pull request ref with a missing object.")
def demo_cmd(path: str | None, commits: int | None, seed: int, bare: bool, messy_: bool
             ) -> None:
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
      git batch demo --messy /tmp/messy && cd /tmp/messy && git batch list
    """
    target = Path(path) if path else Path(tempfile.mkdtemp(prefix="git-batch-demo-"))
    if messy_:
        found = messy.generate(target, commits=commits or messy.DEFAULT_COMMITS, seed=seed,
                               bare=bare, operator=True)
        emit(messy.describe(found))
    else:
        info = demo.generate(target, commits=commits or demo.DEFAULT_COMMITS, seed=seed,
                             bare=bare, operator=True)
        emit(demo.describe(info))


