"""`inflight`: the in-flight radar; parse flags, call one core function, print.

`register(main_group)` adds `inflight`. The core is gitops/revert/inflight.py, the rendering
gitops/cli/render_inflight.py; this module only translates flags and maps verdicts to the exit code.
"""

from __future__ import annotations

import sys
from typing import Protocol

import click

from gitops import errors
from gitops.cli import render_inflight
from gitops.cli.common import dumps
from gitops.context import Context
from gitops.revert import inflight


class Options(Protocol):
    def context(self) -> Context: ...


def emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@click.command("inflight")
@click.argument("batch_id", metavar="[ID]", required=False)
@click.option("--revert-branch", "revert_branch", metavar="BRANCH",
              help="Check against the revert on BRANCH instead of planning one for ID.")
@click.option("--stale", "stale", metavar="DURATION",
              help="Instead: list batch branches open longer than DURATION (72h, 3d, 1w).")
@click.option("--all-merges", is_flag=True,
              help="Run the after-revert merge for every branch (no path-overlap pre-filter).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with full ids.")
@click.pass_obj
def inflight_cmd(opts: Options, *, batch_id: str | None, revert_branch: str | None,
                 stale: str | None, all_merges: bool, as_json: bool) -> None:
    """Show which open branches break when a batch is reverted

    Plans the revert of ID in memory (or takes the one on --revert-branch) and merges every
    in-flight branch with it, without a checkout: one 'git merge-tree' process for all. Each
    branch (refs at the same commit are one row) gets one verdict: same-batch (it carries the
    batch: close it), conflict (only conflicts the revert causes; those it already has with
    the base are listed as pre-existing), dependency-break (it adds or changes a recipe that
    needs one the revert removes), unreadable (a recipe on it does not parse),
    touches-batch-files (merges cleanly but edits the batch's files) or clean. Branches are
    the refs matching repo.inflight_refs that the base does not reach; the base, the revert
    and ops branches, symbolic refs and squash-merged pull requests are left out. Exits 16
    when any branch is same-batch, conflict or dependency-break.

    With --stale DURATION it lists the batch branches (their own commits carry a batch id)
    open longer than DURATION, oldest first, measured from their oldest commit not on the base.

    \b
    Example:
      git batch inflight 2026-03-03-001
      git batch inflight --revert-branch batch-revert/2026-03-03-001
      git batch inflight 2026-03-03-001 --json | jq '.branches[] | select(.blocking)'
      git batch inflight --stale 72h
    """
    if stale is not None:
        if batch_id is not None or revert_branch is not None or all_merges:
            raise errors.UsageError("--stale lists stale batch branches on its own; it takes "
                                    "no ID, --revert-branch or --all-merges.",
                                    hint="git batch inflight --stale 72h")
        limit = inflight.parse_duration(stale)
        found = inflight.stale(opts.context(), limit)
        emit(dumps(render_inflight.stale_json(found)) if as_json
              else render_inflight.stale_text(found))
        return
    if (batch_id is None) == (revert_branch is None):
        raise errors.UsageError("name a batch id or --revert-branch, not both or neither.",
                                hint="git batch inflight 2026-03-03-001")
    report = inflight.check(opts.context(), batch_id=batch_id, revert_branch=revert_branch,
                            prefilter=not all_merges)
    emit(dumps(render_inflight.report_json(report)) if as_json
          else render_inflight.report_text(report))
    blocking = report.blocking
    if blocking:
        kinds = sorted({v.verdict for v in blocking}, key=inflight.VERDICTS.index)
        what = (f"the revert of batch {batch_id}" if batch_id is not None
                else f"the revert branch {report.subject.revert_ref}")
        raise errors.InflightBreaks(
            f"{len(blocking)} of {len(report.verdicts)} in-flight branches break with {what} "
            f"({', '.join(kinds)}).",
            hint="see the table: close same-batch branches, and have conflicting or breaking "
                 "ones fixed before the revert merges")
