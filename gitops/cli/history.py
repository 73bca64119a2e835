"""`list`, `show` and `index`: batch history from the index, or straight from git."""

from __future__ import annotations

import click

from gitops.cli import render
from gitops.cli.common import Options, dumps, emit
from gitops.history import query


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with full ids.")
@click.pass_obj
def list_cmd(opts: Options, as_json: bool) -> None:
    """List every batch reachable from the base branch

    One line per batch: id, first and last commit date, commits, managed files touched,
    ecosystems, state (merged, reverted, partly-reverted, reapplied) and how membership was
    established (trailer, legacy, pull-request). Builds or refreshes the history index.

    \b
    Example:
      git batch list
      git batch list --json | jq '.batches[] | select(.state == "merged") | .batch_id'
    """
    rows = query.list_batches(opts.context())
    emit(dumps(render.summaries_json(rows)) if as_json else render.summaries_text(rows))


@click.command("show")
@click.argument("batch_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with full ids.")
@click.option("--no-index", is_flag=True, help="Query git directly; do not read or write the "
              "history index.")
@click.pass_obj
def show_cmd(opts: Options, batch_id: str, as_json: bool, no_index: bool) -> None:
    """Show one batch: commits, files, outside-scope files, later edits, revert state

    For each commit: short id, date, author, subject and how it was found to belong to the
    batch (trailer, legacy 'batch_id:' line, or pull-request #N for squash merges), then the
    managed files it added / modified / deleted and files outside the managed paths. For each
    managed file, every later commit outside the batch that changed it.

    \b
    Example:
      git batch show 2026-03-03-001
      git batch show 2026-03-03-001 --json
    """
    ctx = opts.context()
    report = query.show(ctx, batch_id, use_index=not no_index)
    managed = ctx.config.is_managed
    emit(dumps(render.report_json(report, managed)) if as_json
          else render.report_text(report, managed))


@click.command("index")
@click.option("--rebuild", is_flag=True, help="Discard the index and build it from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.pass_obj
def index_cmd(opts: Options, rebuild: bool, as_json: bool) -> None:
    """Build or refresh the persistent history index

    The index lives under the git dir (git-batch/index-*.sqlite), one per base branch. list and
    show keep it up to date by themselves; run this after a large fetch, in CI caches, or to
    rebuild. On a terminal a progress bar (commits per second, time left) shows on stderr.

    \b
    Example:
      git batch index
      git batch index --rebuild
    """
    info = query.build_index(opts.context(), rebuild=rebuild)
    if as_json:
        emit(dumps(info))
    else:
        emit(f"index {info['path']}: {info['commits']} commits of {info['base_ref']} "
              f"({str(info['tip'])[:10]}), {info['batches']} batches.\n")



