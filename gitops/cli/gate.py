"""`gate`: the CI pre-flight; key=value lines (and $GITHUB_OUTPUT), the documented exit code."""

from __future__ import annotations

import os

import click

from gitops import errors
from gitops.cli.common import Options, emit, fetch_option, warn
from gitops.ops import gate
from gitops.ops.controls import GateControls


def lines(pairs: list[tuple[str, str]]) -> str:
    """key=value lines, one per pair, each value on one line (GitHub's output format)."""
    return "".join(f"{k}={' '.join(v.split())}\n" for k, v in pairs)


def control_pairs(gc: GateControls | None) -> list[tuple[str, str]]:
    """breaker, probe allowance and sampling lines of the gate's controls."""
    if gc is None:
        return []
    d = gc.budget
    pairs = [("breaker", gc.breaker.phase.replace("_", "-")),
             ("probe_allowance", "" if gc.probe_allowance is None else str(gc.probe_allowance))]
    if gc.probes:
        pairs.append(("probe_packages", ",".join(gc.probes)))
    pairs += [("sampling", "true" if d.sampling else "false"),
              ("sample_rate", f"{d.sample_rate:g}" if d.sample_rate is not None else ""),
              ("sample_platforms", ",".join(d.sampling))]
    return pairs


def _refusal(result: gate.GateResult) -> errors.GitopsError | None:
    """The documented error when the stage may not run, else None."""
    decision, gc = result.decision, result.controls
    what = f"{result.ecosystem} may not run the {result.stage} stage"
    if not decision.can_proceed:
        return errors.Paused(f"{what}: {decision.reason}.",
                             hint="wait for 'git batch resume', or see 'git batch status'")
    if gc is None or not gc.refusal:
        return None
    if gc.refusal == "breaker":
        reset = f"'git batch breaker reset {result.ecosystem} --reason ...'"
        if gc.breaker.manual:
            hint = f"it was tripped by hand and stays open until {reset}"
        else:
            hint = (f"wait for the probe (see 'git batch status'), or {reset} once the "
                    "infrastructure is fixed")
        return errors.BreakerOpen(f"{what}: {gc.reason}.", hint=hint)
    return errors.BudgetExhausted(
        f"{what}: {gc.reason}.",
        hint="wait until the window frees (see 'git batch status'), or raise budget.limits "
             "through a reviewed change")


@click.command("gate")
@click.option("--ecosystem", required=True, metavar="NAME", envvar="GIT_BATCH_ECOSYSTEM",
              help="The ecosystem about to run [env: GIT_BATCH_ECOSYSTEM].")
@click.option("--stage", type=click.Choice(["generate", "merge"]), default="merge",
              show_default=True, envvar="GIT_BATCH_STAGE",
              help="generate: build the batch; merge: land it [env: GIT_BATCH_STAGE].")
@click.option("--github-output", "github_output", is_flag=True,
              envvar="GIT_BATCH_GITHUB_OUTPUT",
              help="Also append can_proceed=... and reason=... to $GITHUB_OUTPUT "
                   "[env: GIT_BATCH_GITHUB_OUTPUT].")
@click.option("--candidate", "candidates", multiple=True, metavar="PACKAGE",
              help="A package that could be probed (repeatable); a half-open breaker prints the "
                   "ones to probe as probe_packages=...")
@fetch_option
@click.pass_obj
def gate_cmd(opts: Options, ecosystem: str, stage: str, github_output: bool,  # noqa: PLR0917
             candidates: tuple[str, ...], fetch: str | None) -> None:
    """Check before a CI stage whether the batch may run: exit 0 when it may

    Prints key=value lines (can_proceed, reason, ecosystem, stage, ops_tip, trust, breaker,
    probe_allowance, sampling, sample_rate, sample_platforms). Exit 20: a pause blocks it (a
    manual pause always wins); 40: the breaker is open; 41: a CI-minutes budget is spent
    (generate stage only); 21: the ops state does not verify; 22: --fetch failed (unless
    ops.on_unreachable = "open"); 25: no ops branch. Fails closed: every refusal still prints
    can_proceed=false, so a workflow step can read it. A half-open breaker lets probe_allowance
    packages run; sampling=true asks to build only sample_rate of the packages on
    sample_platforms.

    \b
    Example:
      git batch gate --ecosystem homebrew --stage merge --fetch origin --github-output
    """
    out_file = os.environ.get("GITHUB_OUTPUT") if github_output else None
    if github_output and not out_file:
        raise errors.UsageError("--github-output needs $GITHUB_OUTPUT, which is not set.",
                                hint="run inside GitHub Actions, or leave --github-output out")

    def publish(pairs: list[tuple[str, str]]) -> None:
        text = lines(pairs)
        emit(text)
        if out_file:
            with open(out_file, "a", encoding="utf-8") as fh:
                fh.write(text)

    try:
        result = gate.gate(opts.context(), ecosystem=ecosystem, stage=stage, fetch=fetch,
                           candidates=candidates)
    except errors.GitopsError as exc:
        if not isinstance(exc, errors.UsageError | errors.ConfigError):
            publish([("can_proceed", "false"), ("reason", exc.message),
                     ("ecosystem", ecosystem), ("stage", stage)])
        raise
    for warning in result.warnings:
        warn(warning)
    refused = _refusal(result)
    reason = result.decision.reason
    if result.controls is not None and result.decision.can_proceed:
        reason = f"{reason}; {result.controls.reason}"
    publish([("can_proceed", "false" if refused else "true"), ("reason", reason),
             ("ecosystem", result.ecosystem), ("stage", result.stage),
             ("ops_tip", result.tip or ""), ("trust", result.trust),
             *control_pairs(result.controls)])
    if refused is not None:
        raise refused
