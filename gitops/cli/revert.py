"""`revert` and `reapply`: plan, print the plan, write the branch, map stops to exit codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import click

from gitops import errors
from gitops.cli.common import JSON_SCHEMA_VERSION, Options, dumps, emit, plural
from gitops.cli.render import commit_json
from gitops.context import Context
from gitops.revert import apply
from gitops.revert.apply import Outcome
from gitops.revert.plan import ON_CONFLICT, FilePlan, describe_later

Kind = Literal["revert", "reapply"]


def _revert_options(fn: Any) -> Any:
    options = [
        click.option("--dry-run", is_flag=True, help="Print the plan; write nothing."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable plan and result."),
        click.option("--on-conflict", type=click.Choice(list(ON_CONFLICT)),
                     default="fail", show_default=True,
                     help="Files edited after the batch: stop; leave them alone; keep a clean "
                          "three-way merge (real conflicts still stop; a file the batch added "
                          "whose later edits were all mechanical is deleted); or discard the "
                          "edits and take the batch's files back anyway (listed in the commit "
                          "body). Protected files are never touched. See docs/revert.md."),
        click.option("--include-ambiguous", is_flag=True,
                     help="Take back files that landed with content this batch and another "
                          "offered alike (by default they stop the revert)."),
        click.option("--only", "only", multiple=True, metavar="PATH|NAME",
                     help="Only these files or recipe names (repeatable)."),
        click.option("--with-dependents", is_flag=True,
                     help="With --only: add the batch's recipes that depend on the selected "
                          "ones."),
        click.option("--allow-broken-deps", is_flag=True,
                     help="Write even if remaining recipes would depend on removed ones."),
        click.option("--onto", metavar="BRANCH", help="Parent of the new commit (default: base)."),
        click.option("--branch", metavar="NAME", help="Branch to create (default: "
                     "batch-revert/ID or batch-reapply/ID)."),
        click.option("--force-branch", is_flag=True, help="Replace the branch if it exists."),
        click.option("--push", metavar="REMOTE", help="Push the new branch (never forced)."),
        click.option("--exit-code", "exit_code", is_flag=True,
                     help="Exit 10 instead of 0 when there is nothing to do."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command("revert")
@click.argument("batch_id", metavar="ID")
@_revert_options
@click.pass_obj
def revert_cmd(opts: Options, /, batch_id: str, **kw: Any) -> None:
    """Take a batch back: one commit on a new branch, no checkout

    For every managed file the batch touched: delete it (the batch added it), restore the
    previous version (modified) or re-create it (deleted). Files edited after the batch, or
    between its commits, stop the revert unless --on-conflict says otherwise; protected
    recipes (adopted by people) are never touched; files outside the managed paths are left
    alone. Recipes remaining at the base must not depend on removed ones. The commit has
    trailers Reverts-Batch and Reverts-Commit; nothing else moves, nothing is pushed unless
    --push. Running it again after the revert merged finds nothing to do.

    \b
    Example:
      git batch revert 2026-03-03-001 --dry-run
      git batch revert 2026-03-03-001
      git batch revert 2026-03-03-001 --only recipes/f/foo.toml --only bar --with-dependents
      git batch revert 2026-03-03-001 --on-conflict discard --dry-run
      git batch revert 2026-03-03-001 --onto release --branch fix/rollback --push origin
    """
    _run(opts.context(), batch_id, "revert", kw)


@click.command("reapply")
@click.argument("batch_id", metavar="ID")
@_revert_options
@click.pass_obj
def reapply_cmd(opts: Options, /, batch_id: str, **kw: Any) -> None:
    """Take a revert back: the revert of the batch's revert commits, same safety rules

    Builds one commit (trailer Reapplies-Batch) on batch-reapply/ID that restores what the
    reverts since the last reapply removed, with the same scope, later-edit and dependency
    checks as revert. Afterwards show reports the batch as reapplied; reverting again works.

    \b
    Example:
      git batch reapply 2026-03-03-001 --dry-run
      git batch reapply 2026-03-03-001 --push origin
    """
    _run(opts.context(), batch_id, "reapply", kw)


def _run(ctx: Context, batch_id: str, kind: Kind, kw: Mapping[str, Any]) -> None:
    """Plan and (unless --dry-run) write the revert or reapply; print the plan and the result;
    raise the documented error when it stops."""
    options = dict(kw)
    as_json, exit_code = options.pop("as_json"), options.pop("exit_code")
    opts = apply.Options(**{**options, "only": tuple(options["only"])})
    outcome = apply.run(ctx, batch_id, kind, opts)
    emit(dumps(outcome_json(outcome)) if as_json
          else outcome_text(outcome, dry_run=opts.dry_run))
    plan = outcome.plan
    if outcome.stops:
        raise _stop_error(outcome, kind, opts)
    if plan.nothing_to_do and exit_code:
        raise errors.NothingToDo(f"nothing to {kind} for batch {batch_id}.")


_STOP_ERRORS: dict[str, type[errors.GitopsError]] = {
    "conflicts": errors.RevertConflict,
    "ambiguous": errors.RevertAmbiguous,
    "unreadable": errors.RecipeUnreadable,
    "dependencies": errors.DependencyBreak,
}


def _stop_error(outcome: Outcome, kind: Kind, opts: apply.Options) -> errors.GitopsError:
    """One error naming every blocker; its exit code is the first blocker's."""
    plan = outcome.plan
    parts = {
        "conflicts": f"{plural(len(plan.conflicts), 'file')} edited after the batch",
        "ambiguous": f"{plural(len(plan.ambiguous), 'file')} another batch offered alike",
        "unreadable": f"{plural(len(plan.unreadable), 'recipe')} that do not parse",
        "dependencies": f"{plural(len(plan.broken), 'remaining recipe')} depending on "
                        "removed ones",
    }
    message = (f"the {kind} of batch {plan.batch_id} stopped on "
               + "; ".join(parts[s] for s in outcome.stops) + "; nothing written.")
    return _STOP_ERRORS[outcome.stops[0]](message, hint=_stop_hint(outcome, opts))


def _stop_hint(outcome: Outcome, opts: apply.Options) -> str:
    """What to do next, for the blockers found: only options that would help."""
    plan, hints = outcome.plan, []
    if "conflicts" in outcome.stops:
        if opts.on_conflict == "merge":
            hints.append("the merges conflict: --on-conflict skip leaves those files, "
                         "discard takes the batch's versions back anyway")
        else:
            hints.append("review the edits, then --on-conflict skip (leave them), merge "
                         "(3-way) or discard (take the batch's versions back anyway)")
    if "ambiguous" in outcome.stops:
        hints.append("check which batch brought them ('git batch show ID'), then "
                     "--include-ambiguous or --only without them")
    if "dependencies" in outcome.stops or "unreadable" in outcome.stops:
        batch_files = {f.path for f in plan.files}
        outside = sorted({b.dependent for b in plan.broken} - batch_files)
        if "unreadable" in outcome.stops:
            hints.append("fix the TOML at the lines shown")
        if plan.broken and not outside:
            hints.append("the dependents are the batch's own: revert them too "
                         "(--only ... --with-dependents)")
        elif outside:
            hints.append(f"{plural(len(outside), 'dependent is', 'dependents are')} not the "
                         "batch's: keep what they need (--only the others) or fix them first")
        hints.append("--allow-broken-deps writes anyway")
    return "; ".join(hints)


def _later_json(plan_file: FilePlan) -> list[dict[str, Any]]:
    seen: dict[str, Any] = {}
    for e in plan_file.later:
        seen.setdefault(e.commit.oid, e.commit)
    return [commit_json(c) for c in seen.values()]


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    plan = outcome.plan
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "kind": plan.kind,
        "batch_id": plan.batch_id,
        "target_ref": plan.target_ref,
        "target": plan.target,
        "commits": list(plan.commits),
        "files": [{"path": f.path, "outcome": f.outcome, "reason": f.reason,
                   "new_blob": f.new[0] if f.new and f.changes_tree else None,
                   "later_edits": _later_json(f)} for f in plan.files],
        "outside_scope": list(plan.outside),
        "with_dependents": list(plan.with_dependents),
        "broken_dependencies": [{"dependent": b.dependent, "dependent_name": b.dependent_name,
                                 "missing": b.missing} for b in plan.broken],
        "unreadable": [{"path": p, "line": line, "message": m} for p, line, m in plan.unreadable],
        "later_commits": [{**commit_json(c.commit), "managed_files_changed": c.breadth,
                           "mechanical": c.mechanical, "batch_files": list(c.paths)}
                          for c in plan.later],
        "nothing_to_do": plan.nothing_to_do,
        "stopped": outcome.stop,
        "stops": list(outcome.stops),
        "branch": outcome.branch,
        "commit": outcome.commit,
        "pushed": outcome.pushed,
    }


def outcome_text(outcome: Outcome, *, dry_run: bool) -> str:
    plan = outcome.plan
    verb = plan.kind
    lines = [f"{verb} plan for batch {plan.batch_id} on {plan.target_ref} "
             f"({plan.target[:10]}), {len(plan.commits)} "
             f"{'commit' if len(plan.commits) == 1 else 'commits'}:"]
    width = max((len(f.outcome) for f in plan.files), default=8)
    for f in plan.files:
        lines.append(f"  {f.outcome:<{width}}  {f.path}  ({f.reason})")
    if plan.later:
        lines.append("edited later, by commit (breadth: managed files each commit changed):")
        lines += [f"  {describe_later(c)}" for c in plan.later]
    if plan.with_dependents:
        lines.append("added by --with-dependents (they depend on a selected recipe):")
        lines += [f"  {p}" for p in plan.with_dependents]
    if plan.outside:
        lines.append("left alone (outside the managed paths):")
        lines += [f"  {p}" for p in plan.outside]
    if plan.broken:
        lines.append("dependencies the revert would break:")
        lines += [f"  {b.dependent} ({b.dependent_name}) needs {b.missing}" for b in plan.broken]
    if plan.unreadable:
        lines.append("recipes that do not parse (their dependencies cannot be checked):")
        lines += [f"  {p}" + (f":{line}" if line else "") + f": {m}"
                  for p, line, m in plan.unreadable]
    n = len(plan.changing)
    if outcome.stops:
        lines.append(f"stopped: {', '.join(outcome.stops)}; nothing written.")
    elif plan.nothing_to_do:
        done = "reverted" if verb == "revert" else "reapplied"
        lines.append(f"nothing to do: every file of the batch is already {done} or skipped.")
    elif dry_run:
        lines.append(f"dry run: {n} files would change; nothing written.")
    else:
        assert outcome.commit is not None  # apply() wrote it: neither stopped nor a dry run
        lines.append(f"wrote {outcome.commit[:10]} on {outcome.branch} ({n} files changed)"
                     + (f", pushed to {outcome.pushed}." if outcome.pushed else "."))
    return "\n".join(lines) + "\n"
