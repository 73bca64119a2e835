"""`ops init`, `pause`, `resume`, `status`, `audit`, `id new`, `land`: the ops branch."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from gitops import errors
from gitops.cli.common import (
    JSON_SCHEMA_VERSION,
    Options,
    emit,
    fetch_option,
    push_option,
    warn,
)
from gitops.cli.render_ops import slo_json, slo_lines, written
from gitops.ops import status, write
from gitops.ops.controls import StatusControls
from gitops.ops.state import iso
from gitops.ops.trust import View

# -- ops init -------------------------------------------------------------------------------------


@click.group("ops")
def ops_group() -> None:
    """Set up the ops branch that holds pauses, reserved ids and landings

    \b
    Example:
      git batch ops init --push origin
    """


@ops_group.command("init")
@push_option
@click.pass_obj
def ops_init_cmd(opts: Options, push: str | None) -> None:
    """Create the ops branch: a signed root commit holding an empty state

    The branch (ops.branch, default batch-ops) shares no history with the base branch. Needs a
    signing key listed in the allowed-signers file of the base branch (ops.allowed_signers).
    Does nothing when the branch exists.

    \b
    Example:
      git batch ops init --push origin
    """
    ctx = opts.context()
    result = write.init(ctx, push=push)
    if result.published:
        emit(f"published the existing {ctx.config.ops.branch} at {result.tip[:10]} to "
              f"{result.pushed}; nothing written.\n")
        return
    written(result, f"created {ctx.config.ops.branch}",
             unchanged=f"{ctx.config.ops.branch} exists already")


# -- pause / resume -------------------------------------------------------------------------------


@click.command("pause")
@click.option("--ecosystem", "ecosystems", metavar="NAME", multiple=True,
              help="Pause only this ecosystem (repeatable); without it, everything is paused.")
@click.option("--reason", required=True, metavar="TEXT", help="Why, in one line (required).")
@click.option("--incident", default="", metavar="URL", help="The incident's address.")
@click.option("--until", metavar="TIME", help="Expire by itself at TIME (2026-11-27T14:00Z) or "
              "after a duration (90m, 4h, 2d); default: until resumed.")
@click.option("--level", type=click.Choice(["freeze", "stop"]), default="stop",
              show_default=True, help="freeze blocks merges only; stop blocks everything.")
@push_option
@click.pass_obj
def pause_cmd(opts: Options, ecosystems: tuple[str, ...], reason: str,  # noqa: PLR0917
              incident: str, until: str | None, level: str, push: str | None) -> None:
    """Stop batches now, everywhere or per ecosystem (one signed commit)

    'git batch gate' then refuses: a stop blocks every stage, a freeze blocks the merge stage
    only. A manual pause wins over everything else; nothing blocks 'git batch revert'.

    \b
    Example:
      git batch pause --reason "bad validation" --incident https://status/INC-42 --push origin
      git batch pause --ecosystem homebrew --level freeze --until 4h --reason "flaky CI"
    """
    result = write.pause(opts.context(), ecosystems=ecosystems, level=level, reason=reason,
                       incident=incident, until=until, push=push)
    what = ", ".join(ecosystems) if ecosystems else "all ecosystems"
    written(result, f"paused {what} ({level})",
             unchanged=f"{what} already paused the same way")


@click.command("resume")
@click.option("--ecosystem", "ecosystems", metavar="NAME", multiple=True,
              help="Resume this ecosystem (repeatable); without it, lift the global pause.")
@click.option("--reason", default="", metavar="TEXT", help="Why, in one line.")
@push_option
@click.pass_obj
def resume_cmd(opts: Options, ecosystems: tuple[str, ...], reason: str,
               push: str | None) -> None:
    """Lift a pause: the global one, or those of the given ecosystems

    Pauses of other scopes stay; 'git batch status' shows what is still paused.

    \b
    Example:
      git batch resume --push origin
      git batch resume --ecosystem homebrew --reason "validation fixed" --push origin
    """
    result = write.resume(opts.context(), ecosystems=ecosystems, reason=reason, push=push)
    what = ", ".join(ecosystems) if ecosystems else "all ecosystems (global pause)"
    written(result, f"resumed {what}", unchanged=f"{what}: not paused")
    still = []
    if result.state.global_pause is not None and ecosystems:
        still.append("everything (global)")
    still += [e for e in sorted(result.state.ecosystems) if e not in ecosystems]
    if still:
        warn(f"still paused: {', '.join(still)} (see 'git batch status')")


# -- status ---------------------------------------------------------------------------------------


def _iso(t: datetime | None) -> str | None:
    return iso(t) if t is not None else None


def _day(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t is not None else "-"


def _trust_json(view: View) -> dict[str, Any]:
    return {"state": view.trust.label, "require_signed": view.trust.required,
            "problems": list(view.trust.problems), "tip_signer": view.trust.tip_principal,
            "allowed_signers": view.signers.source}


def _entry_json(e: status.OpEntry) -> dict[str, Any]:
    return {"oid": e.check.oid, "time": e.check.time,
            "date": iso(datetime.fromtimestamp(e.check.time, tz=UTC)),
            "op": e.op, "subject": e.subject, "signature": e.check.status,
            "signer": e.principal, "verified": e.principal is not None,
            "problem": e.problem or None}


def status_json(report: status.StatusReport) -> dict[str, Any]:
    """The status document (`git batch status --json`)."""
    view = report.view
    scopes: dict[str, Any] = {}
    for sc in report.scopes:
        p = sc.pause
        doc: dict[str, Any] = {"paused": sc.active}
        if p is not None:
            doc.update({"level": p.level, "reason": p.reason, "incident": p.incident or None,
                        "since": _iso(p.since), "until": _iso(p.until),
                        "expired": not sc.active, "by": sc.by, "commit": sc.commit})
        scopes[sc.scope] = doc
    glob = scopes.pop("global")
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "trust": _trust_json(view),
        "branch": view.where.branch, "ref": view.source, "tip": view.tip,
        "seq": report.state.seq, "now": _iso(report.now),
        "global": glob, "ecosystems": scopes,
        "ids": dict(report.state.ids), "landings": len(report.state.landings),
        "recent": [_entry_json(e) for e in report.recent],
        "warnings": list(report.warnings),
        **_controls_json(report.controls),
    }


def _controls_json(c: StatusControls | None) -> dict[str, Any]:
    if c is None:
        return {}

    breakers = {v.ecosystem: {"phase": v.breaker.phase, "window": v.breaker.window,
                              "opened_at": _iso(v.breaker.opened_at),
                              "recovers_at": _iso(v.recovers_at), "backoff": v.breaker.backoff,
                              "rotation": list(v.breaker.rotation),
                              "manual": v.breaker.manual or None}
                for v in c.breakers}
    platforms = {b.platform: {"used": b.used, "limit": b.limit, "level": b.level,
                              "burn_1h": round(b.burn_1h, 2), "burn_6h": round(b.burn_6h, 2),
                              "exhausts_at": _iso(b.exhausts_at), "frees_at": _iso(b.frees_at)}
                 for b in c.budget.platforms}
    return {"breakers": breakers,
            "budget": {"level": c.budget.level, "sample_rate": c.budget.sample_rate,
                       "platforms": platforms},
            "slo": slo_json(c.slos)}


def _bar(fraction: float, width: int = 20) -> str:
    filled = min(width, round(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def controls_text(c: StatusControls | None) -> list[str]:
    """The breakers, budget bars and SLO table of `status`."""
    if c is None:
        return []
    lines = ["", "breakers:"]
    for v in c.breakers:
        b = v.breaker
        rate = f"{b.window.count('P')}/{len(b.window)} passed" if b.window else "no attempts"
        extra = ""
        if b.phase == "open":
            extra = (f"  tripped by hand: {b.manual}" if b.manual else
                     f"  half-open at {_day(v.recovers_at)} (back-off {b.backoff})")
        elif b.phase == "half_open":
            extra = f"  probing {v.policy.probes} package(s)"
        lines.append(f"  {v.ecosystem:<12} {b.phase.replace('_', '-'):<9}  {rate}{extra}")
    lines += ["", "budget (CI minutes):"]
    if not c.budget.platforms:
        lines.append("  no limits (budget.limits) and no minutes recorded")
    for pb in c.budget.platforms:
        if pb.limit:
            share = pb.used / pb.limit
            head = (f"  {pb.platform:<8} {_bar(share)} {pb.used}/{pb.limit} ({share:.0%}) "
                    f"{pb.level}")
        else:
            head = f"  {pb.platform:<8} {pb.used} (no limit)"
        burn = f"  burn {pb.burn_1h:.1f}/h (1h) {pb.burn_6h:.1f}/h (6h)"
        if pb.exhausts_at is not None:
            burn += f", exhausted ~{_day(pb.exhausts_at)}"
        if pb.frees_at is not None:
            burn += f", frees {_day(pb.frees_at)}"
        lines.append(head + burn)
    lines += ["", "SLOs:"]
    lines += [f"  {line}" for line in slo_lines(c.slos)]
    return lines


def _headline(view: View, note_trial: bool) -> str:
    tip = f"{view.where.branch} {view.tip[:10]} ({view.source})"
    if not view.trust.required:
        return (f"UNVERIFIED ops state {tip}: ops.require_signed = false (trial mode), "
                "signatures are not enforced" + (f"; {len(view.trust.problems)} problem(s)"
                                                  if note_trial and view.trust.problems else ""))
    if not view.trust.trusted:
        return (f"UNTRUSTED ops state {tip}: gate refuses every batch; "
                f"{len(view.trust.problems)} problem(s) below")
    return f"TRUSTED ops state {tip}, tip signed by {view.trust.tip_principal}"


def status_text(report: status.StatusReport) -> str:
    """The status table for people."""
    view, st = report.view, report.state
    lines = [_headline(view, True)]
    lines += [f"  ! {p}" for p in view.trust.problems]
    lines += [f"  warning: {w}" for w in report.warnings]
    lines.append(f"allowed signers: {view.signers.source}; operations: {st.seq}; "
                 f"now {_iso(report.now)}")
    lines.append("")
    rows = [("SCOPE", "STATE", "LEVEL", "SINCE", "UNTIL", "BY", "REASON / INCIDENT")]
    for sc in report.scopes:
        p = sc.pause
        if p is None:
            rows.append((sc.scope, "running", "-", "-", "-", "-", ""))
            continue
        state_word = "PAUSED" if sc.active else "expired"
        why = p.reason + (f" ({p.incident})" if p.incident else "")
        rows.append((sc.scope, state_word, p.level, _day(p.since), _day(p.until),
                     sc.by or "UNVERIFIED", why))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:6])) + "  " + r[6])
    lines += controls_text(report.controls)
    lines.append("")
    lines.append("last operations:")
    for e in report.recent:
        when = datetime.fromtimestamp(e.check.time, tz=UTC)
        who = e.principal or f"UNVERIFIED ({e.problem})"
        lines.append(f"  {e.check.oid[:10]}  {_day(when)}  {who}  {e.subject}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


@click.command("status")
@click.option("--json", "as_json", flag_value="json", default=None,
              help="JSON (the default when stdout is not a terminal).")
@click.option("--text", "as_json", flag_value="text", help="The table, even into a pipe.")
@fetch_option
@click.pass_obj
def status_cmd(opts: Options, as_json: str | None, fetch: str | None) -> None:
    """Show pauses, recent operations and their verified signers at a glance

    The first line says TRUSTED, UNTRUSTED (exit 21 after printing) or UNVERIFIED (trial mode,
    ops.require_signed = false). A table on a terminal, JSON otherwise.

    \b
    Example:
      git batch status --fetch origin
      git batch status --json | jq .ecosystems.homebrew
    """
    ctx = opts.context()
    report = status.status(ctx, fetch=fetch)
    mode = as_json or ("text" if sys.stdout.isatty() else "json")
    if mode == "json":
        emit(json.dumps(status_json(report), indent=2) + "\n")
    else:
        emit(status_text(report))
    _refuse_untrusted(report.view)


# -- audit ----------------------------------------------------------------------------------------


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with full ids.")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=1), metavar="N",
              help="Only the newest N operations.")
@fetch_option
@click.pass_obj
def audit_cmd(opts: Options, as_json: bool, limit: int | None, fetch: str | None) -> None:
    """List the ops history, each operation with its signature verdict

    Every commit is verified now against the allowed-signers file of the base branch; the
    operator shown is the verified principal, never the committer name. An UNTRUSTED state
    exits 21 after printing, as status does.

    \b
    Example:
      git batch audit -n 20
      git batch audit --json | jq '.entries[] | select(.verified | not)'
    """
    report = status.audit(opts.context(), fetch=fetch, limit=limit)
    view = report.view
    if as_json:
        doc = {"schema_version": JSON_SCHEMA_VERSION, "trust": _trust_json(view),
               "branch": view.where.branch, "tip": view.tip,
               "entries": [_entry_json(e) for e in report.entries]}
        emit(json.dumps(doc, indent=2) + "\n")
        _refuse_untrusted(view)
        return
    lines = [_headline(view, True)]
    lines += [f"  ! {p}" for p in view.trust.problems]
    for e in report.entries:
        when = datetime.fromtimestamp(e.check.time, tz=UTC)
        verdict = f"verified {e.principal}" if e.principal else f"UNVERIFIED: {e.problem}"
        lines.append(f"{e.check.oid[:10]}  {_day(when)}  {e.subject}")
        lines.append(f"            {verdict}")
    emit("\n".join(lines) + "\n")
    _refuse_untrusted(view)


def _refuse_untrusted(view: View) -> None:
    """Exit 21 after the report when signatures are required and the state does not verify."""
    if view.trust.required and not view.trust.trusted:
        raise errors.StateUntrusted(
            f"UNTRUSTED ops state: {view.trust.problems[0]}.",
            hint="do not run batches; follow the runbook to restore a verified state")


# -- id new / land --------------------------------------------------------------------------------


@click.group("id")
def id_group() -> None:
    """Reserve batch ids on the ops branch

    \b
    Example:
      BATCH_ID=$(git batch id new --ecosystem cargo --push origin)
    """


@id_group.command("new")
@click.option("--ecosystem", metavar="NAME", envvar="GIT_BATCH_ECOSYSTEM",
              help="The ecosystem the batch is for (recorded) [env: GIT_BATCH_ECOSYSTEM].")
@click.option("--json", "as_json", is_flag=True, help="Print {id, commit} as JSON.")
@push_option
@click.pass_obj
def id_new_cmd(opts: Options, ecosystem: str | None, as_json: bool, push: str | None) -> None:
    """Print the next free batch id of today (UTC) and reserve it

    The id is <today>-NNN (ops.id_format), one above both the last reservation on the ops
    branch and the ids of today already on the base branch. Two concurrent runs never get the
    same id: the reservation is a signed commit moved by compare-and-swap.

    \b
    Example:
      BATCH_ID=$(git batch id new --ecosystem cargo --push origin)
    """
    result = write.new_id(opts.context(), ecosystem=ecosystem, push=push)
    for warning in result.warnings:
        warn(warning)
    if as_json:
        emit(json.dumps({"id": result.reserved_id, "commit": result.tip,
                          "signer": result.signer, "pushed": result.pushed}) + "\n")
        return
    emit(result.reserved_id + "\n")
    sys.stderr.write(f"git-batch: reserved {result.reserved_id} at {result.tip[:10]}"
                     + (f", pushed to {result.pushed}" if result.pushed else "") + ".\n")


@click.command("land")
@click.argument("batch_id", metavar="ID")
@click.argument("commits", metavar="COMMIT...", nargs=-1, required=True)
@push_option
@click.pass_obj
def land_cmd(opts: Options, batch_id: str, commits: tuple[str, ...], push: str | None) -> None:
    """Record which base commits carry a batch whose trailers the merge dropped

    'git batch show' then counts these commits as members (source: ledger). Every COMMIT must
    be on the base branch. Recording the same commits again writes nothing.

    \b
    Example:
      git batch land 2026-03-03-001 4f2c1a9e0b --push origin
    """
    result = write.land(opts.context(), batch_id, commits, push=push)
    written(result, f"recorded {len(result.state.landings.get(batch_id, ()))} commit(s) of "
             f"{batch_id}", unchanged=f"{batch_id}: these commits are recorded already")
