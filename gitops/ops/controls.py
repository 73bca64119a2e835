"""Automatic controls: results files -> record operations; breaker, budget and SLOs as
the gate and status see them. Pure: takes the state, the configuration and `now`.

The state transitions themselves live in breaker.py, budget.py and slo.py; state.py persists
them; ops.write writes the operations to the ops branch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from gitops.config import BreakerPolicy, Config
from gitops.errors import ResultsMalformed, UsageError
from gitops.ops import breaker, budget, slo, state
from gitops.ops.breaker import Breaker
from gitops.ops.budget import Decision as BudgetDecision

OUTCOMES = ("passed", "failed", "skipped")
MAX_CATEGORY = 100
_HINT = ("each line must be a JSON object such as {\"package\": \"foo\", \"outcome\": \"passed\", "
         "\"category\": \"network\", \"minutes\": {\"linux\": 3}}")


# -- results -> RecordOp --------------------------------------------------------------------------


class Result(NamedTuple):
    package: str
    outcome: str  # passed / failed / skipped
    category: str
    minutes: tuple[tuple[str, int], ...]


def _bad(where: str, what: str) -> ResultsMalformed:
    return ResultsMalformed(f"{where}: {what}; nothing was recorded.", hint=_HINT)


def _minutes_of(value: object, where: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        raise _bad(where, "'minutes' must be an object of platform: minutes")
    out = []
    for platform, used in value.items():
        if not isinstance(platform, str) or not state.is_platform(platform):
            raise _bad(where, f"'minutes' has a bad platform name {platform!r}")
        if isinstance(used, bool) or not isinstance(used, int | float) or not 0 <= used < 1e7:
            raise _bad(where, f"'minutes.{platform}' must be a non-negative number")
        out.append((platform, math.ceil(used)))  # a started minute is billed
    return tuple(out)


def parse_results(text: str, source: str) -> tuple[Result, ...]:
    """The lines of a results file; ResultsMalformed naming the first bad line (1-based)."""
    results = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{n}"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(where, f"not JSON ({exc.msg})") from None
        if not isinstance(doc, dict):
            raise _bad(where, "not a JSON object")
        package, outcome = doc.get("package"), doc.get("outcome")
        if not isinstance(package, str) or not state.is_package(package):
            raise _bad(where, "'package' must be a name without spaces or control characters")
        if outcome not in OUTCOMES:
            raise _bad(where, f"'outcome' must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        category = doc.get("category") or ""
        if (not isinstance(category, str) or len(category) > MAX_CATEGORY
                or any(c.isspace() or ord(c) < 32 for c in category)):
            raise _bad(where, "'category' must be one word such as network or validation")
        minutes = _minutes_of(doc["minutes"], where) if doc.get("minutes") is not None else ()
        results.append(Result(package, outcome, category, minutes))
    return tuple(results)


def parse_minutes(items: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """--minutes PLATFORM=N (repeatable)."""
    out = []
    for item in items:
        platform, sep, used = item.partition("=")
        if not sep or not state.is_platform(platform) or not used.isdigit():
            raise UsageError(f"--minutes '{item}' is not PLATFORM=MINUTES.",
                             hint="for example --minutes macos=34 --minutes linux=120")
        out.append((platform, int(used)))
    return tuple(out)


def _sum_minutes(*groups: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    total: dict[str, int] = {}
    for group in groups:
        for platform, used in group:
            total[platform] = total.get(platform, 0) + used
    return tuple(sorted((k, v) for k, v in total.items() if v))


def record_from_results(ecosystem: str, results: Iterable[Result],
                        minutes: Iterable[tuple[str, int]], policy: BreakerPolicy
                        ) -> state.RecordOp:
    """One RecordOp from a results file (and --minutes, added to the file's)."""
    rows = tuple(results)
    run = breaker.counted_run(((r.package, r.outcome == "passed", r.category)
                               for r in rows if r.outcome != "skipped"), policy)
    run = breaker.Run(run.counted, run.passes, run.failures,
                      run.failed_packages[:state.MAX_FAILED_NAMES])
    count = {o: sum(1 for r in rows if r.outcome == o) for o in OUTCOMES}
    return state.RecordOp(ecosystem, count["passed"], count["failed"], count["skipped"], run,
                          _sum_minutes(minutes, *(r.minutes for r in rows)))


def record_from_counts(ecosystem: str, passed: int, failed: int,
                       minutes: Iterable[tuple[str, int]]) -> state.RecordOp:
    """One RecordOp from --passed/--failed: every failure counts (no categories are known)."""
    run = breaker.Run(breaker.spread(passed, failed), passed, failed)
    return state.RecordOp(ecosystem, passed, failed, 0, run, _sum_minutes(minutes))


# -- what gate and status see ---------------------------------------------------------------------


class GateControls(NamedTuple):
    breaker: Breaker  # as of now (an open one past its recovery time is half_open)
    recovers_at: datetime | None
    probe_allowance: int | None  # half-open: packages it admits
    probes: tuple[str, ...]  # chosen among --candidate, when given
    budget: BudgetDecision
    refusal: str  # "" (may run), "breaker" or "budget"
    reason: str  # one line


def _ledger(st: state.State) -> dict[str, dict[datetime, int]]:
    return {k: dict(v) for k, v in st.minutes.items()}


def describe_breaker(ecosystem: str, b: Breaker, at: datetime | None) -> str:
    if b.phase == "closed":
        rate = breaker.success_rate(b.window)
        shown = f"{rate:.0%} of the last {len(b.window)}" if rate is not None else "no attempts"
        return f"breaker of {ecosystem} closed ({shown})"
    if b.phase == "half_open":
        return f"breaker of {ecosystem} half-open: probing"
    if b.manual:
        return f"breaker of {ecosystem} tripped by hand: {b.manual} (until 'breaker reset')"
    since = f" since {state.iso(b.opened_at)}" if b.opened_at is not None else ""
    return (f"breaker of {ecosystem} open{since}"
            + (f", half-open at {state.iso(at)}" if at is not None else ""))


def gate_controls(st: state.State, ecosystem: str, stage: str, now: datetime, cfg: Config, *,
                  candidates: tuple[str, ...] = ()) -> GateControls:
    """The breaker and budget part of the gate: the breaker gates every stage, the budget only
    generate (merging spends no CI minutes)."""
    policy = cfg.breaker.policy_of(ecosystem)
    b = breaker.current(st.breaker_of(ecosystem), now, policy)
    at = breaker.recovers_at(b, policy)
    allowance = policy.probes if b.phase == "half_open" else None
    probes = breaker.choose_probes(b, candidates, policy) if allowance else ()
    decision = budget.assess(_ledger(st), now, cfg.budget.policy)
    notes = [describe_breaker(ecosystem, b, at)]
    refusal = ""
    if b.phase == "open":
        refusal = "breaker"
    elif allowance:
        notes.append(f"probe allowance {allowance} package(s)")
    if decision.stopped and stage == "generate":
        refusal = refusal or "budget"
        for pb in decision.stopped:
            notes.append(f"{pb.platform} used {pb.used} of {pb.limit} CI minutes"
                         + (f" (frees at {state.iso(pb.frees_at)})" if pb.frees_at else ""))
    elif decision.sampling and stage == "generate":
        notes.append(f"sampling {', '.join(decision.sampling)} at {decision.sample_rate:.0%}")
    return GateControls(b, at, allowance, probes, decision, refusal, "; ".join(notes))


class BreakerView(NamedTuple):
    ecosystem: str
    breaker: Breaker
    recovers_at: datetime | None
    policy: BreakerPolicy


class StatusControls(NamedTuple):
    breakers: tuple[BreakerView, ...]
    budget: BudgetDecision
    slos: tuple[slo.Report, ...]

    @property
    def worst(self) -> slo.Severity:
        return max((r.severity for r in self.slos), key=slo.SEVERITIES.index, default="ok")


def ecosystems_of(st: state.State, cfg: Config) -> tuple[str, ...]:
    return tuple(sorted(set(cfg.ops.ecosystems) | set(st.breakers) | set(st.outcomes)))


def status_controls(st: state.State, now: datetime, cfg: Config) -> StatusControls:
    """Breakers, budget and SLOs of every ecosystem at now."""
    ecos = ecosystems_of(st, cfg)
    views = []
    for eco in ecos:
        policy = cfg.breaker.policy_of(eco)
        b = breaker.current(st.breaker_of(eco), now, policy)
        views.append(BreakerView(eco, b, breaker.recovers_at(b, policy), policy))
    reports = tuple(slo.evaluate(eco, st.outcomes.get(eco, {}), now, cfg.slo.policy)
                    for eco in ecos)
    return StatusControls(tuple(views), budget.assess(_ledger(st), now, cfg.budget.policy),
                          reports)
