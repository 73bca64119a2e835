"""The `git batch` command: global options, lazy subcommands, and the one place where errors
become exit codes."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from gitops import __version__, errors
from gitops.cli.progress import TerminalProgress
from gitops.context import Context, load_context
from gitops.git import process

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Each command's module is imported only when that command runs (or help lists them all), so
# a command pays for its own imports only: `gate` never loads the history index or pygit2.
COMMANDS = {
    "list": "gitops.cli.history:list_cmd",
    "show": "gitops.cli.history:show_cmd",
    "index": "gitops.cli.history:index_cmd",
    "revert": "gitops.cli.revert:revert_cmd",
    "reapply": "gitops.cli.revert:reapply_cmd",
    "inflight": "gitops.cli.inflight:inflight_cmd",
    "trailer": "gitops.cli.trailer:trailer_group",
    "ops": "gitops.cli.ops:ops_group",
    "pause": "gitops.cli.ops:pause_cmd",
    "resume": "gitops.cli.ops:resume_cmd",
    "status": "gitops.cli.ops:status_cmd",
    "audit": "gitops.cli.ops:audit_cmd",
    "id": "gitops.cli.ops:id_group",
    "land": "gitops.cli.ops:land_cmd",
    "gate": "gitops.cli.gate:gate_cmd",
    "record": "gitops.cli.controls:record_cmd",
    "breaker": "gitops.cli.controls:breaker_group",
    "slo": "gitops.cli.controls:slo_cmd",
    "check": "gitops.cli.enforce:check_cmd",
    "hooks": "gitops.cli.enforce:hooks_group",
    "hook-impl": "gitops.cli.enforce:hook_impl_cmd",
    "demo": "gitops.cli.demo:demo_cmd",
    "drill": "gitops.cli.drill:drill_cmd",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


class Options:
    """The global options, handed to every command; context() loads the repository and config."""

    def __init__(self, repo: str | None, config: str | None, base: str | None) -> None:
        self.repo = repo
        self.config = config
        self.base = base

    def context(self) -> Context:
        progress = TerminalProgress("indexing") if sys.stderr.isatty() else None
        return load_context(self.repo, self.config, self.base, os.environ, progress=progress)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
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
        process.add_tracer(process.debug_tracer)
    ctx.obj = Options(repo, config, base)


def _report(exc: errors.GitopsError) -> int:
    sys.stderr.write(errors.report_text(exc))
    return exc.exit_code


def internal_error(exc: BaseException) -> int:
    """Report an unexpected exception (a bug) with a crash log; exit code 3."""
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


