"""`git batch revert` and `reapply` without click: the command bodies both front ends share.

A rollback runs during an incident, and its whole process has a budget (issue 3: <= 300 ms with
a warm index on a 200k-commit registry). click and the other commands' modules cost about 40 ms
to import, so `entry.main` hands `revert ...` and `reapply ...` to `fast()` here first. `parse()`
reads only the plain forms (one ID, the options of `git batch revert -h`, `--opt=value`);
anything else (help, `--`, an unknown option, a bad choice, an ID that looks like an option)
returns None and the click commands in cli.py parse it and print their usual usage errors. Both
paths then call `run()`, so output and exit codes are the same; tests/git/test_revert_cmd.py
compares them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from gitops import errors

if TYPE_CHECKING:
    from gitops.context import Context

Kind = Literal["revert", "reapply"]
FLAGS = {"--dry-run": "dry_run", "--json": "as_json", "--with-dependents": "with_dependents",
         "--allow-broken-deps": "allow_broken_deps", "--force-branch": "force_branch",
         "--exit-code": "exit_code"}
VALUED = {"--on-conflict": "on_conflict", "--only": "only", "--onto": "onto",
          "--branch": "branch", "--push": "push"}
ON_CONFLICT = ("fail", "skip", "merge")


def defaults() -> dict[str, Any]:
    """The options as click passes them when none is given."""
    return {**dict.fromkeys(FLAGS.values(), False), "on_conflict": "fail", "only": (),
            "onto": None, "branch": None, "push": None}


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(batch id, options) from the arguments after `revert`, or None to leave them to click."""
    from gitops.argv import scan  # noqa: PLC0415

    scanned = scan(argv, FLAGS, VALUED, {"--only"})
    if scanned is None:
        return None
    ids, given = scanned
    kw = {**defaults(), **given}
    if len(ids) != 1 or kw["on_conflict"] not in ON_CONFLICT:
        return None
    kw["only"] = tuple(kw["only"])
    return ids[0], kw


def _emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run(ctx: Context, batch_id: str, kind: Kind, kw: Mapping[str, Any]) -> None:
    """Plan and (unless --dry-run) write the revert or reapply; print the plan and the result;
    raise the documented error when it stops."""
    from gitops import render, revert  # noqa: PLC0415

    options = dict(kw)
    as_json, exit_code = options.pop("as_json"), options.pop("exit_code")
    opts = revert.Options(**{**options, "only": tuple(options["only"])})
    outcome = revert.run(ctx, batch_id, kind, opts)
    _emit(render.dumps(render.outcome_json(outcome)) if as_json
          else render.outcome_text(outcome, dry_run=opts.dry_run))
    plan = outcome.plan
    if outcome.stop == "conflicts":
        raise errors.RevertConflict(
            f"{len(plan.conflicts)} files were edited after batch {batch_id}; nothing written.",
            hint="review them, then --on-conflict skip (leave them) or merge (3-way)")
    if outcome.stop == "dependencies":
        raise errors.DependencyBreak(
            f"{len(plan.broken)} remaining recipes depend on recipes the {kind} removes; "
            "nothing written.",
            hint="revert the dependents too (--only ... --with-dependents), fix them first, "
                 "or --allow-broken-deps")
    if outcome.stop == "unreadable":
        raise errors.RecipeUnreadable(
            f"{len(plan.unreadable)} recipes do not parse, so their dependencies cannot be "
            "checked; nothing written.",
            hint="fix the TOML at the lines shown, or --allow-broken-deps")
    if plan.nothing_to_do and exit_code:
        raise errors.NothingToDo(f"nothing to {kind} for batch {batch_id}.")


def fast(kind: Kind, argv: list[str], environ: Mapping[str, str] = os.environ) -> int | None:
    """Exit code of `git batch revert|reapply ARGS` run without click, or None when click must
    parse the arguments."""
    parsed = parse(argv)
    if parsed is None:
        return None
    batch_id, kw = parsed
    try:
        from gitops.context import load_context  # noqa: PLC0415

        run(load_context(None, None, None, environ), batch_id, kind, kw)
    except errors.GitopsError as exc:
        sys.stderr.write(errors.report_text(exc))
        return exc.exit_code
    return 0
