"""click group: parse flags, build Context, call ONE core function, render, map errors to codes."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from gitops import __version__, errors, gitcli, render
from gitops.cli_common import emit as _emit
from gitops.context import Context, load_context

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Options:
    def __init__(self, repo: str | None, config: str | None, base: str | None) -> None:
        self.repo = repo
        self.config = config
        self.base = base

    def context(self) -> Context:
        return load_context(self.repo, self.config, self.base, os.environ)




@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="git-batch")
@click.option("--repo", "repo", metavar="PATH", help="Repository to work on (default: the "
              "current directory's).")
@click.option("--config", "config", metavar="PATH", envvar="GIT_BATCH_CONFIG",
              help="Configuration file instead of .git-batch.toml [env: GIT_BATCH_CONFIG].")
@click.option("--base", "base", metavar="BRANCH", envvar="GIT_BATCH_BASE_BRANCH",
              help="Base branch (default: origin/HEAD's target, else main, else HEAD) "
                   "[env: GIT_BATCH_BASE_BRANCH].")
@click.option("--debug", is_flag=True, help="Print every git command line to stderr.")
@click.pass_context
def main_group(ctx: click.Context, repo: str | None, config: str | None, base: str | None,
               debug: bool) -> None:
    """Operator controls for registries fed by automated batches.

    \b
    Example:
      git batch list
      git batch show 2026-03-03-001
      git batch demo /tmp/registry
    """
    if debug:
        gitcli.add_tracer(gitcli.debug_tracer)
    ctx.obj = Options(repo, config, base)


@main_group.command("list")
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
    from gitops import lookup  # noqa: PLC0415

    rows = lookup.list_batches(opts.context())
    _emit(render.dumps(render.summaries_json(rows)) if as_json else render.summaries_text(rows))


@main_group.command("show")
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
    from gitops import lookup  # noqa: PLC0415

    ctx = opts.context()
    report = lookup.show(ctx, batch_id, use_index=not no_index)
    managed = ctx.config.is_managed
    _emit(render.dumps(render.report_json(report, managed)) if as_json
          else render.report_text(report, managed))


@main_group.command("index")
@click.option("--rebuild", is_flag=True, help="Discard the index and build it from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.pass_obj
def index_cmd(opts: Options, rebuild: bool, as_json: bool) -> None:
    """Build or refresh the persistent history index

    The index lives under the git dir (git-batch/index-*.sqlite), one per base branch. list and
    show keep it up to date by themselves; run this after a large fetch, in CI caches, or to
    rebuild. A progress line is shown on a terminal.

    \b
    Example:
      git batch index
      git batch index --rebuild
    """
    from gitops import lookup  # noqa: PLC0415

    progress = _progress if sys.stderr.isatty() and not as_json else None
    info = lookup.build_index(opts.context(), rebuild=rebuild, progress=progress)
    if progress:
        sys.stderr.write("\n")
    if as_json:
        _emit(render.dumps(info))
    else:
        _emit(f"index {info['path']}: {info['commits']} commits of {info['base_ref']} "
              f"({str(info['tip'])[:10]}), {info['batches']} batches.\n")


def _revert_options(fn: Any) -> Any:
    options = [
        click.option("--dry-run", is_flag=True, help="Print the plan; write nothing."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable plan and result."),
        click.option("--on-conflict", type=click.Choice(["fail", "skip", "merge"]),
                     default="fail", show_default=True,
                     help="Files edited after the batch: stop, leave them alone, or keep a "
                          "clean three-way merge (real conflicts still stop)."),
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


def _run_revert(opts: Options, batch_id: str, kind: str, kw: dict[str, Any]) -> None:
    from gitops import revert_cmd  # noqa: PLC0415 - the body entry.main also runs without click

    revert_cmd.run(opts.context(), batch_id, kind, kw)  # type: ignore[arg-type]


@main_group.command("revert")
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
      git batch revert 2026-03-03-001 --onto release --branch fix/rollback --push origin
    """
    _run_revert(opts, batch_id, "revert", kw)


@main_group.command("reapply")
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
    _run_revert(opts, batch_id, "reapply", kw)


def _progress(done: int, total: int | None) -> None:
    sys.stderr.write(f"\rindexing: {done} commits" + (f" of {total}" if total else ""))
    sys.stderr.flush()


@main_group.group("trailer")
def trailer_group() -> None:
    """Write batch trailers into commit messages

    \b
    Example:
      git batch trailer add 2026-03-03-001 < msg > msg2
    """


@trailer_group.command("add")
@click.argument("batch_id", metavar="ID")
@click.option("--in-place", "in_place", metavar="FILE", type=click.Path(dir_okay=False),
              help="Rewrite FILE instead of reading stdin (for a prepare-commit-msg hook).")
@click.option("--ecosystem", metavar="NAME", help="Also add the ecosystem trailer.")
@click.pass_obj
def trailer_add_cmd(opts: Options, batch_id: str, in_place: str | None,
                    ecosystem: str | None) -> None:
    """Add 'Batch-Id: ID' to a commit message as git interpret-trailers would

    Reads the message on stdin and writes it to stdout, or rewrites --in-place FILE. The id
    must match the configured pattern. An identical trailer at the end is not repeated.

    \b
    Example:
      git batch trailer add 2026-03-03-001 < msg > msg2
      git batch trailer add 2026-03-03-001 --in-place .git/COMMIT_EDITMSG
    """
    from gitops import lookup, trailers  # noqa: PLC0415

    try:
        cfg = opts.context().config
    except errors.RepositoryError:
        # Outside a repository (a message file in CI): defaults, or the --config file.
        from gitops.config import Config, load_config_file  # noqa: PLC0415

        cfg = load_config_file(Path(opts.config)) if opts.config else Config()
    lookup.check_batch_id(cfg, batch_id)
    if in_place:
        try:
            message = Path(in_place).read_text(encoding="utf-8")
        except OSError as exc:
            raise errors.UsageError(f"cannot read {in_place}: {exc.strerror}.") from None
    else:
        message = sys.stdin.read()
    out = trailers.add_trailer(message, cfg.batch.trailer_key, batch_id)
    if ecosystem:
        out = trailers.add_trailer(out, cfg.batch.ecosystem_trailer, ecosystem)
    if in_place:
        tmp = Path(in_place + ".git-batch.tmp")
        tmp.write_text(out, encoding="utf-8")
        os.replace(tmp, in_place)
    else:
        _emit(out)


@main_group.command("demo")
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
    import tempfile  # noqa: PLC0415

    from gitops import demo  # noqa: PLC0415

    target = Path(path) if path else Path(tempfile.mkdtemp(prefix="git-batch-demo-"))
    info = demo.generate(target, commits=commits, seed=seed, bare=bare, operator=True)
    _emit(demo.describe(info))


def _report(exc: errors.GitopsError) -> int:
    sys.stderr.write(errors.report_text(exc))
    return exc.exit_code


def internal_error(exc: BaseException) -> int:
    """Report an unexpected exception (a bug) with a crash log; exit code 3."""
    import tempfile  # noqa: PLC0415

    log = Path(tempfile.gettempdir()) / f"git-batch-crash-{os.getpid()}.log"
    text = "".join(traceback.format_exception(exc))
    try:
        log.write_text(f"git-batch {__version__}\npython {sys.version}\n{text}")
        where = f"; details in {log}"
    except OSError:
        where = ""
    sys.stderr.write(f"git-batch: internal error: {exc!r}{where}\n"
                     "hint: this is a bug; please report it with the log\n")
    return errors.INTERNAL_ERROR


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented code."""
    try:
        code = main_group.main(args=argv, prog_name="git batch", standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except errors.GitopsError as exc:
        code = _report(exc)
    except click.exceptions.Abort:
        sys.stderr.write("git-batch: interrupted\n")
        code = errors.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("git-batch: interrupted\n")
        code = errors.INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:  # the one place unexpected errors become exit 3
        code = internal_error(exc)
    sys.exit(code)


def run_for_tests(argv: list[str]) -> Any:  # pragma: no cover - convenience for the REPL
    return main_group.main(args=argv, standalone_mode=False)


# Commands of the ops branch (issue 5) live in cli_ops.py.
from gitops import cli_ops  # noqa: E402

cli_ops.register(main_group)

from gitops import cli_inflight  # noqa: E402

cli_inflight.register(main_group)

# Enforcement (issue 7): check, hooks, hook-impl.
from gitops import cli_hooks  # noqa: E402

cli_hooks.register(main_group)

# Automatic controls (issue 6): record, breaker, slo.
from gitops import cli_controls  # noqa: E402

cli_controls.register(main_group)

from gitops import cli_drill  # noqa: E402

cli_drill.register(main_group)
