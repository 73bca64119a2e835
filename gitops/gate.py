"""`git batch gate`: the pre-flight check CI runs before every stage, without click.

CI calls the gate before each generate and merge stage, so it has its own budget (issue 5:
<= 100 ms whole process, signature of the ops tip verified). click and the other commands cost
about 40 ms to import, so `entry.main` hands `gate ...` to `fast()` here first. `fast()` reads
only the plain forms (`--ecosystem NAME`, `--stage merge`, `--flag=value`, and the same
`GIT_BATCH_*` variables as the click options); anything else (help, an unknown option, a bad
value, an option given before `gate`) returns None and the click command in cli_ops.py parses
it and prints its usual usage error. Both paths then call `run()`, so the output and the exit
codes are the same; tests/ops/test_gate_fast.py compares them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from gitops import errors
from gitops.records import NamedTuple

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from typing import Any

    from gitops.context import Context

STAGES = ("generate", "merge")
# click's boolean words (BoolParamType), for GIT_BATCH_GITHUB_OUTPUT
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class GateArgs(NamedTuple):
    ecosystem: str
    stage: str = "merge"
    github_output: bool = False
    candidates: tuple[str, ...] = ()
    fetch: str | None = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def lines(pairs: list[tuple[str, str]]) -> str:
    """key=value lines, one per pair, each value on one line (GitHub's output format)."""
    return "".join(f"{k}={_one_line(v)}\n" for k, v in pairs)


def control_pairs(gc: Any) -> list[tuple[str, str]]:
    """breaker, probe allowance and sampling lines from ops_view.GateResult.controls."""
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


def _emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _warn(text: str) -> None:
    sys.stderr.write(f"git-batch: warning: {text}\n")


def run(ctx: Context, args: GateArgs, environ: Mapping[str, str]) -> None:
    """Print the gate's key=value lines; raise the documented error when the stage may not run.

    Fails closed: an ops state that does not verify, a missing ops branch or an unreachable
    remote refuse (and still print can_proceed=false, so a workflow step can read it)."""
    from gitops import ops_view  # noqa: PLC0415

    out_file = environ.get("GITHUB_OUTPUT") if args.github_output else None
    if args.github_output and not out_file:
        raise errors.UsageError("--github-output needs $GITHUB_OUTPUT, which is not set.",
                                hint="run inside GitHub Actions, or leave --github-output out")

    def publish(pairs: list[tuple[str, str]]) -> None:
        text = lines(pairs)
        _emit(text)
        if out_file:
            with open(out_file, "a", encoding="utf-8") as fh:
                fh.write(text)

    try:
        result = ops_view.gate(ctx, ecosystem=args.ecosystem, stage=args.stage, fetch=args.fetch,
                               candidates=args.candidates)
    except errors.GitopsError as exc:
        if not isinstance(exc, errors.UsageError | errors.ConfigError):
            publish([("can_proceed", "false"), ("reason", exc.message),
                     ("ecosystem", args.ecosystem), ("stage", args.stage)])
        raise
    for warning in result.warnings:
        _warn(warning)
    decision, gc = result.decision, result.controls
    refusal = gc.refusal if gc is not None and decision.can_proceed else ""
    reason = decision.reason
    if gc is not None and decision.can_proceed:
        reason = f"{reason}; {gc.reason}"
    publish([("can_proceed", "true" if decision.can_proceed and not refusal else "false"),
             ("reason", reason), ("ecosystem", result.ecosystem),
             ("stage", result.stage), ("ops_tip", result.tip or ""), ("trust", result.trust),
             *control_pairs(gc)])
    what = f"{result.ecosystem} may not run the {result.stage} stage"
    if not decision.can_proceed:
        raise errors.Paused(f"{what}: {decision.reason}.",
                            hint="wait for 'git batch resume', or see 'git batch status'")
    if refusal == "breaker":
        reset = f"'git batch breaker reset {result.ecosystem} --reason ...'"
        if gc.breaker.manual:  # type: ignore[union-attr]
            hint = f"it was tripped by hand and stays open until {reset}"
        else:
            hint = (f"wait for the probe (see 'git batch status'), or {reset} once the "
                    "infrastructure is fixed")
        raise errors.BreakerOpen(f"{what}: {gc.reason}.", hint=hint)  # type: ignore[union-attr]
    if refusal == "budget":
        raise errors.BudgetExhausted(
            f"{what}: {gc.reason}.",  # type: ignore[union-attr]
            hint="wait until the window frees (see 'git batch status'), or raise budget.limits "
                 "through a reviewed change")


# -- the click-free command line --------------------------------------------------------------

_VALUED = {"--ecosystem": "ecosystem", "--stage": "stage", "--candidate": "candidates",
           "--fetch": "fetch"}


def parse(argv: list[str], environ: Mapping[str, str]) -> GateArgs | None:
    """GateArgs from `gate`'s arguments (argv without "gate"), or None to leave it to click."""
    from gitops.argv import scan  # noqa: PLC0415

    scanned = scan(argv, {"--github-output": "github_output"}, _VALUED, {"--candidate"})
    if scanned is None or scanned[0]:
        return None
    given = {k: v for k, v in scanned[1].items() if isinstance(v, str)}
    candidates = scanned[1].get("candidates", [])
    assert isinstance(candidates, list)
    github_output: bool | None = True if scanned[1].get("github_output") else None
    # click reads these variables when the option is absent; an empty variable counts as unset
    for key, var in (("ecosystem", "GIT_BATCH_ECOSYSTEM"), ("stage", "GIT_BATCH_STAGE"),
                     ("fetch", "GIT_BATCH_FETCH")):
        if key not in given and environ.get(var):
            given[key] = environ[var]
    if github_output is None:
        word = environ.get("GIT_BATCH_GITHUB_OUTPUT", "").strip().lower()
        if word and word not in _TRUE | _FALSE:
            return None
        github_output = word in _TRUE
    stage = given.get("stage", "merge")
    if not given.get("ecosystem") or stage not in STAGES:
        return None
    return GateArgs(given["ecosystem"], stage, github_output, tuple(candidates),
                    given.get("fetch"))


def fast(argv: list[str], environ: Mapping[str, str] = os.environ,
         load: Callable[[], Context] | None = None) -> int | None:
    """Exit code of `git batch gate ARGS` run without click, or None when click must parse."""
    args = parse(argv, environ)
    if args is None:
        return None
    try:
        if load is None:
            from gitops import repoinfo, verify_ahead  # noqa: PLC0415

            # git finds the repository and checks the ops tip the last read predicted, while
            # Python imports and parses the configuration
            where = repoinfo.repo_path(None, environ)
            started = repoinfo.probe(where)
            verify_ahead.start(str(where), environ)
            from gitops.context import load_context  # noqa: PLC0415

            ctx = load_context(None, None, None, environ, started)
        else:
            ctx = load()
        run(ctx, args, environ)
    except errors.GitopsError as exc:
        sys.stderr.write(errors.report_text(exc))
        return exc.exit_code
    finally:
        from gitops import verify_ahead  # noqa: PLC0415

        verify_ahead.discard()
    return 0
