"""`drill`: rehearse an incident; parse flags, call drill.run, print the steps.

`register(main_group)` adds `drill`. The core is gitops/drill.py; this module only translates
flags, prints each step as it ends (or the whole report as JSON) and maps FAIL to exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from gitops import drill, errors
from gitops.cli.common import JSON_SCHEMA_VERSION, Options, dumps, emit

RUNBOOK = "docs/runbooks/drill.md"


def step_line(step: drill.Step) -> str:
    """One step as a line: ok/FAIL, milliseconds, name, summary (and the command on failure)."""
    line = f"{'ok' if step.ok else 'FAIL':<4} {step.duration_ms:>6} ms  {step.name:<13}  " \
           f"{step.summary}\n"
    if not step.ok:
        line += f"{'':<4} {'':>6}     command: {step.command}\n"
    return line


def verdict_line(report: drill.Report) -> str:
    return (f"verdict: {report.verdict} ({len(report.steps)} steps, "
            f"{report.duration_ms / 1000:.1f} s)\n")


def report_json(report: drill.Report) -> dict[str, Any]:
    """The drill document (`git batch drill --json`)."""
    src = report.source
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "verdict": report.verdict,
        "failure": report.failure,
        "source": None if src is None else {"kind": src.kind, "path": src.path,
                                            "base_ref": src.base_ref, "base": src.base},
        "clone": report.clone,
        "batch_id": report.batch_id,
        "ecosystem": report.ecosystem,
        "duration_ms": report.duration_ms,
        "steps": [{"name": s.name, "command": s.command, "exit_code": s.exit_code,
                   "expected": list(s.expected), "ok": s.ok, "duration_ms": s.duration_ms,
                   "summary": s.summary} for s in report.steps],
    }


@click.command("drill")
@click.option("--ecosystem", metavar="NAME", envvar="GIT_BATCH_ECOSYSTEM",
              help="Ecosystem whose breaker is tripped and which is paused (default: the "
                   "batch's, else the first of ops.ecosystems) [env: GIT_BATCH_ECOSYSTEM].")
@click.option("--batch", "batch_id", metavar="ID",
              help="Batch to revert and reapply (default: the most recent one on the base "
                   "branch that is not reverted).")
@click.option("--keep", is_flag=True, help="Keep the throw-away directory and print its path.")
@click.option("--workdir", metavar="DIR", type=click.Path(file_okay=False),
              help="Make the throw-away directory in DIR (default: the system's temp dir).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.pass_obj
def drill_cmd(opts: Options, ecosystem: str | None, batch_id: str | None,  # noqa: PLR0917
              keep: bool, workdir: str | None, as_json: bool) -> None:
    """Rehearse an incident on a throw-away clone and time every step

    Clones the repository (a mirror, objects hardlinked; outside a repository: a new demo
    registry) into a temporary directory and runs the real commands there, each as its own
    process: ops init, record failing runs until the gate refuses with the breaker (exit 40),
    pause (gate exit 20), revert the batch, the in-flight radar (exit 16 is a finding, not a
    failure), merge the revert in the clone, resume, breaker reset, gate (exit 0), reapply.
    The clone has no remote of yours (an empty one stands in for the ops remote), a signing
    key and ops branch of its own, and your git settings and GIT_BATCH_* variables do not
    reach it: nothing outside the temporary directory changes. Prints one line per step and a
    verdict; exit 0 on PASS, 1 on FAIL. The directory is removed unless --keep.

    \b
    Example:
      git batch drill
      git batch drill --ecosystem homebrew --batch 2026-03-03-001 --keep
      git batch drill --json > drill.json
    """
    try:
        ctx = opts.context()
    except errors.RepositoryError:
        # Only "no repository here" means the demo; a --repo that is not one is an error.
        if getattr(opts, "repo", None) or os.environ.get("GIT_DIR"):
            raise
        ctx = None

    def show(step: drill.Step) -> None:
        emit(step_line(step))

    options = drill.Options(ecosystem=ecosystem, batch_id=batch_id, keep=keep,
                            workdir=Path(workdir) if workdir else None,
                            config=getattr(opts, "config", None))
    report = drill.run(ctx, options, os.environ, on_step=None if as_json else show)
    if as_json:
        emit(dumps(report_json(report)))
    else:
        if report.clone:
            emit(f"kept the throw-away directory: {report.clone}\n")
        emit(verdict_line(report))
    if report.clone and as_json:
        sys.stderr.write(f"git-batch: kept the throw-away directory: {report.clone}\n")
    if not report.passed:
        failed = errors.GitopsError(
            f"drill FAILED: {report.failure}",
            hint=f"look into the clone in {report.clone}" if report.clone
            else "run it again with --keep to look into the clone")
        failed.runbook = RUNBOOK  # a GitopsError (exit 1) with the drill's page
        raise failed
