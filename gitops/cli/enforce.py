"""`check`, `hooks install|uninstall|status`, `hook-impl`: enforcement before merge.

The core is gitops/enforce/hook_impl.py (orchestration), gitops/enforce/rules.py (the rules) and
gitops/enforce/hooks.py (installing shims); this module only translates flags and renders results.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from gitops.cli.common import JSON_SCHEMA_VERSION, Options, emit
from gitops.enforce import hook_impl, hooks


def check_json(report: hook_impl.CheckReport) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "ok": not report.refusals,
        "exit_code": report.exit_code,
        "ranges": [{"from": a, "to": b} for a, b in report.ranges],
        "commits_checked": report.checked,
        "refusals": [{"commit": r.oid, "rule": r.rule, "error": r.error.__name__,
                      "code": r.error.exit_code, "reason": r.reason, "fix": r.fix}
                     for r in report.refusals],
        "notes": list(dict.fromkeys(report.notes)),
    }


def check_text(report: hook_impl.CheckReport) -> str:
    lines = [f"note: {n}" for n in dict.fromkeys(report.notes)]
    for r in report.refusals:
        lines += [f"refused {r.label}: {r.reason}", f"  fix: {r.fix}"]
    if report.refusals:
        lines.append(f"{len(report.refusals)} refusal(s) in {report.checked} commit(s); "
                     f"runbook: {report.refusals[0].error.runbook}")
    else:
        lines.append(f"ok: {report.checked} commit(s) checked, nothing refused.")
    return "\n".join(lines) + "\n"


@click.command("check")
@click.option("--range", "ranges", metavar="A..B", multiple=True, envvar="GIT_BATCH_RANGE",
              help="Commits to check (repeatable; env: space-separated) [env: GIT_BATCH_RANGE].")
@click.option("--target", metavar="BRANCH", envvar="GIT_BATCH_TARGET",
              help="Branch the commits land on, for hooks.target_branches [env: "
                   "GIT_BATCH_TARGET].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with full ids.")
@click.pass_obj
def check_cmd(opts: Options, ranges: tuple[str, ...], target: str | None, as_json: bool) -> int:
    """Check every commit of a range against the batch policy (the required CI check)

    Refuses commits touching managed paths without a valid Batch-Id trailer, malformed,
    duplicate, legacy or misplaced trailers, batch commits for paused ecosystems (or an
    untrusted ops state), and commits bringing back a reverted batch without Reapplies-Batch.
    Exit 0 when nothing is refused, else the code of the first refusal (30-33).

    \b
    Example:
      git batch check --range origin/main..HEAD
      # GitHub pull_request:
      git batch check --range "${{ github.event.pull_request.base.sha }}..${{ github.sha }}"
      # GitHub merge_group:
      export GIT_BATCH_RANGE="${{ github.event.merge_group.base_sha }}..\\
      ${{ github.event.merge_group.head_sha }}"   # one line in the workflow
      git batch check --json
    """
    report = hook_impl.check(opts.context(), ranges, target=target)
    emit(json.dumps(check_json(report), indent=2) + "\n" if as_json else check_text(report))
    return report.exit_code


@click.group("hooks")
def hooks_group() -> None:
    """Install, remove or inspect the git-batch hook shims of this repository

    \b
    Example:
      git batch hooks install
      git batch hooks install --chain      # keep an existing hook, run it first
      git batch hooks status
    """


def _hooks_text(report: hooks.HooksReport, verb: str) -> str:
    lines = [f"hooks directory: {report.directory}"]
    if report.hooks_path:
        lines[0] += f" (core.hooksPath = {report.hooks_path})"
    if verb:
        lines.append(f"{verb}: {', '.join(report.changed) or 'nothing (already so)'}")
    for h in report.hooks:
        chained = " (chained .legacy runs first)" if h.chained else ""
        lines.append(f"  {h.name:<20} {h.state}{chained}")
    return "\n".join(lines) + "\n"


@hooks_group.command("install")
@click.option("--chain", is_flag=True, help="Keep a foreign hook as <name>.legacy and run it "
              "first instead of refusing.")
@click.option("--server/--client", "server", default=None, help="Install pre-receive (server) "
              "or commit-msg, prepare-commit-msg and pre-push (client); default: server in a "
              "bare repository.")
@click.pass_obj
def hooks_install_cmd(opts: Options, chain: bool, server: bool | None) -> None:
    """Install the hook shims where git runs hooks (core.hooksPath respected)

    Never overwrites a hook git-batch did not write unless --chain is given.

    \b
    Example:
      git batch hooks install
      git --git-dir=/srv/registry.git batch hooks install --server
    """
    emit(_hooks_text(hooks.install(opts.context(), chain=chain, server=server), "installed"))


@hooks_group.command("uninstall")
@click.pass_obj
def hooks_uninstall_cmd(opts: Options) -> None:
    """Remove the git-batch hook shims and restore chained hooks

    \b
    Example:
      git batch hooks uninstall
    """
    emit(_hooks_text(hooks.uninstall(opts.context()), "removed"))


@hooks_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def hooks_status_cmd(opts: Options, as_json: bool) -> None:
    """Show which hooks are ours, foreign or absent, and where

    \b
    Example:
      git batch hooks status --json
    """
    report = hooks.status(opts.context())
    if as_json:
        doc = {"schema_version": JSON_SCHEMA_VERSION, "directory": str(report.directory),
               "core_hooks_path": report.hooks_path,
               "hooks": [{"name": h.name, "path": str(h.path), "state": h.state,
                          "chained": h.chained} for h in report.hooks]}
        emit(json.dumps(doc, indent=2) + "\n")
    else:
        emit(_hooks_text(report, ""))


@click.command("hook-impl", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def hook_impl_cmd(opts: Options, name: str, args: tuple[str, ...]) -> int:
    """Run hook NAME as the installed shims do (internal)

    \b
    Example:
      git-batch hook-impl commit-msg -- .git/COMMIT_EDITMSG
    """
    rest = list(args[1:] if args[:1] == ("--",) else args)
    stdin = b"" if name in ("commit-msg", "prepare-commit-msg") else sys.stdin.buffer.read()
    return hook_impl.run_hook(opts.context, name, rest, stdin, os.environ)
