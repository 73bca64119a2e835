"""`record`, `breaker reset|trip`, `slo`: the automatic controls.

`register(main_group)` adds them; the core is gitops/write.py (writes) and gitops/ops/controls.py
(what the results mean). `gate` and `status` show the controls too (gitops/cli/ops.py).
"""

from __future__ import annotations

import json
import sys

import click

from gitops import errors
from gitops.cli.common import (
    JSON_SCHEMA_VERSION,
    Options,
    emit,
    fetch_option,
    push_option,
)
from gitops.cli.render_ops import slo_json, slo_lines, written
from gitops.ops import status, write


@click.command("record")
@click.option("--ecosystem", required=True, metavar="NAME", envvar="GIT_BATCH_ECOSYSTEM",
              help="The ecosystem the run was for [env: GIT_BATCH_ECOSYSTEM].")
@click.option("--results", "results", metavar="FILE",
              type=click.Path(dir_okay=False, allow_dash=True),
              help="JSON lines, one per package: package, outcome (passed|failed|skipped), "
                   "category, minutes ('-': stdin).")
@click.option("--passed", type=click.IntRange(min=0), metavar="N", help="Packages that passed.")
@click.option("--failed", type=click.IntRange(min=0), metavar="N",
              help="Packages that failed (all count against the breaker).")
@click.option("--minutes", "minutes", multiple=True, metavar="PLATFORM=N",
              help="CI minutes the run used on PLATFORM (repeatable; added to the file's).")
@push_option
@click.pass_obj
def record_cmd(opts: Options, ecosystem: str, results: str | None,  # noqa: PLR0917
               passed: int | None, failed: int | None, minutes: tuple[str, ...],
               push: str | None) -> None:
    """Record the outcome of one CI run: breaker, SLOs and budget (one signed commit)

    Failures whose category is package-specific (breaker.package_categories, default
    validation and unsupported) do not count against the ecosystem's breaker. A malformed line
    is reported by its number and nothing is recorded (exit 43).

    \b
    Example:
      git batch record --ecosystem homebrew --results run.jsonl --minutes macos=34 --push origin
      git batch record --ecosystem cargo --passed 48 --failed 2
    """
    text = None
    if results is not None:
        try:
            if results == "-":
                text = sys.stdin.read()
            else:
                with open(results, encoding="utf-8") as fh:
                    text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.UsageError(f"cannot read --results {results}: {exc}.") from None
    result = write.record(opts.context(), ecosystem=ecosystem, results=text,
                        source=results or "-", passed=passed, failed=failed, minutes=minutes,
                        push=push)
    b = result.state.breaker_of(ecosystem)
    written(result, f"recorded the run of {ecosystem} (breaker {b.phase.replace('_', '-')})",
             unchanged=f"{ecosystem}: the run changes nothing")


@click.group("breaker")
def breaker_group() -> None:
    """Reset or trip an ecosystem's circuit breaker by hand

    \b
    Example:
      git batch breaker reset homebrew --reason "runner pool fixed" --push origin
    """


def _breaker(action: str, opts: Options, ecosystem: str, reason: str, push: str | None) -> None:
    result = write.breaker_action(opts.context(), ecosystem=ecosystem, action=action,
                                reason=reason, push=push)
    done = "reset (closed)" if action == "reset" else "tripped (open until reset)"
    already = "closed" if action == "reset" else "tripped"
    written(result, f"breaker of {ecosystem} {done}",
             unchanged=f"breaker of {ecosystem}: already {already}")


@breaker_group.command("reset")
@click.argument("ecosystem", metavar="ECOSYSTEM")
@click.option("--reason", required=True, metavar="TEXT", help="Why, in one line (required).")
@push_option
@click.pass_obj
def breaker_reset_cmd(opts: Options, ecosystem: str, reason: str, push: str | None) -> None:
    """Close the breaker: empty window, no back-off, no probe rotation (one signed commit)

    \b
    Example:
      git batch breaker reset homebrew --reason "runner pool fixed" --push origin
    """
    _breaker("reset", opts, ecosystem, reason, push)


@breaker_group.command("trip")
@click.argument("ecosystem", metavar="ECOSYSTEM")
@click.option("--reason", required=True, metavar="TEXT", help="Why, in one line (required).")
@push_option
@click.pass_obj
def breaker_trip_cmd(opts: Options, ecosystem: str, reason: str, push: str | None) -> None:
    """Open the breaker until 'breaker reset': gate refuses with exit 40 (one signed commit)

    \b
    Example:
      git batch breaker trip homebrew --reason "macOS runners down" --push origin
    """
    _breaker("trip", opts, ecosystem, reason, push)


@click.command("slo")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fetch_option
@click.pass_obj
def slo_cmd(opts: Options, as_json: bool, fetch: str | None) -> None:
    """Show each ecosystem's success rate over 24 h and 7 d against its SLO

    Severity: critical below slo.critical (50 %), warning below the ecosystem's target
    (slo.target, default 98 %, or slo.ecosystems.NAME), ok otherwise. Exit 42 when any
    ecosystem is critical, so a scheduled job can alert.

    \b
    Example:
      git batch slo --fetch origin --json
    """
    _view, controls = status.slo_report(opts.context(), fetch=fetch)
    if as_json:
        emit(json.dumps({"schema_version": JSON_SCHEMA_VERSION, "severity": controls.worst,
                          "ecosystems": slo_json(controls.slos)}, indent=2) + "\n")
    else:
        emit("\n".join(slo_lines(controls.slos)) + "\n")
    critical = [r.ecosystem for r in controls.slos if r.severity == "critical"]
    if critical:
        raise errors.SloCritical(f"SLO critical: {', '.join(critical)}.",
                                 hint="see 'git batch status' for breakers; follow the runbook")
