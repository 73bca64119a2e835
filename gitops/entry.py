"""Console-script entry point: try the warm fast path, else the full click CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def _nothing_to_prepare() -> bool:
    """prepare-commit-msg runs on every commit; without GIT_BATCH_ID (and no chained hook) it
    has nothing to do, so answer before importing anything (issue 7: commit <= 100 ms)."""
    shim = os.environ.get("GIT_BATCH_HOOK_PATH", "")
    legacy = os.path.join(os.path.dirname(shim), "prepare-commit-msg.legacy") if shim else ""
    return not os.environ.get("GIT_BATCH_ID", "").strip() and not (
        legacy and os.path.exists(legacy))


def _may_name_a_batch(args: list[str]) -> bool:
    """Whether commit-msg's message file (args: `-- FILE`) mentions a batch at all; the hook
    reads the ops branch only for a commit that names one (the configuration says how)."""
    path = args[1] if args[:1] == ["--"] and len(args) > 1 else args[0] if args else ""
    try:
        with open(path, "rb") as fh:
            return b"batch" in fh.read().lower()
    except OSError:
        return False


def _without_click(argv: list[str]) -> int | None:
    """The commands whose budget leaves no room for click; None: let click parse argv."""
    if argv[0] == "gate":
        from gitops import gate  # noqa: PLC0415

        return gate.fast(argv[1:])
    if argv[0] == "hook-impl":
        ahead = argv[1:2] == ["commit-msg"] and _may_name_a_batch(argv[2:])
        if ahead:
            from gitops import verify_ahead  # noqa: PLC0415

            # commit-msg will read the ops branch: git verifies its tip while Python imports
            verify_ahead.start(os.getcwd(), os.environ)
        try:
            from gitops import hook_impl  # noqa: PLC0415

            return hook_impl.main(argv[1:])
        finally:
            if ahead:
                verify_ahead.discard()
    from gitops import revert_cmd  # noqa: PLC0415

    return revert_cmd.fast("revert" if argv[0] == "revert" else "reapply", argv[1:])


def _exit_from(run: Callable[[list[str]], int | None], args: list[str]) -> None:
    """Exit with run(args)'s code, as the click CLI would report it; return when it is None."""
    try:
        code = run(args)
    except KeyboardInterrupt:
        sys.stderr.write("git-batch: interrupted\n")
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # the one place unexpected errors become exit 3, as in cli.main
        from gitops.cli import internal_error  # noqa: PLC0415

        code = internal_error(exc)
    if code is not None:
        if run is _without_click:
            _leave(code)
        sys.exit(code)


def _leave(code: int) -> None:
    """Exit at once once the output is out: the interpreter's teardown (freeing every module,
    pygit2's included) costs 5-15 ms here, a tenth of the gate's and commit-msg's budgets
    (issues 5, 7) and of show after new commits (issue 2). Only for the click-free commands
    and the warm show/list, which have finished everything when they return: their git
    processes are reaped, their files closed or renamed into place, their sqlite transactions
    committed, and nothing registers atexit handlers."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass  # the reader left; the exit code still tells
    os._exit(code)


def _answer_from_index(argv: list[str], moved: tuple[str, str] | None) -> int | None:
    """fastpath.run; when the base moved since the stored answer (moved: work tree, new tip),
    `git log` of the new commits starts first, so that git computes their changes on the
    second core while Python imports the index's modules (issue 2: show after 100 new commits
    <= 100 ms)."""
    early = None
    if moved is not None:
        from gitops import gitcli  # noqa: PLC0415

        early = (moved[1], gitcli.start_log(*moved))
    try:
        from gitops import fastpath  # noqa: PLC0415

        return fastpath.run(argv, early=early)
    finally:
        if early is not None:
            early[1].kill()  # unused, or read as far as needed: either way git stops here


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in ("show", "list"):
        try:
            from gitops import warm  # noqa: PLC0415

            code, moved = warm.run(argv)
            if code is None:
                code = _answer_from_index(argv, moved)
        except Exception:  # any surprise: the full path reports it properly
            code = None
        if code is not None:
            _leave(code)  # answered: the index is closed, the replay file written
    if argv[:2] == ["hook-impl", "prepare-commit-msg"] and _nothing_to_prepare():
        sys.exit(0)
    # CI's pre-flight gate (issue 5: <= 100 ms), a rollback during an incident (issue 3: <= 300
    # ms) and the hooks on every commit (issue 7: commit-msg <= 100 ms) skip click.
    if argv[:1] in (["gate"], ["revert"], ["reapply"]) or (
            argv[:1] == ["hook-impl"] and not {"-h", "--help"} & set(argv[1:2])):
        _exit_from(_without_click, argv)
    from gitops.cli import main as cli_main  # noqa: PLC0415

    cli_main()
