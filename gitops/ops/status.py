"""What `status`, `audit` and `slo` show: the verified ops state, its history, the controls."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from gitops.context import Context
from gitops.errors import StateCorrupt
from gitops.git.process import Oid
from gitops.ops import controls, state, store
from gitops.ops.state import State
from gitops.ops.store import AllowedSigners, CommitCheck
from gitops.ops.trust import View, read_view, trial_note, untrusted

RECENT = 10  # operations shown by status


class ScopeStatus(NamedTuple):
    scope: str  # "global" or an ecosystem
    pause: state.Pause | None
    active: bool
    by: str | None  # the verified principal of the commit that set the pause
    commit: Oid | None


class OpEntry(NamedTuple):
    check: CommitCheck
    principal: str | None
    problem: str
    op: str  # the Op trailer ("" when none)
    subject: str


class StatusReport(NamedTuple):
    view: View
    now: datetime
    state: State
    scopes: tuple[ScopeStatus, ...]  # global first, then ecosystems
    recent: tuple[OpEntry, ...]
    warnings: tuple[str, ...] = ()
    controls: controls.StatusControls | None = None  # breakers, budget, SLOs


def _entry(check: CommitCheck, signers: AllowedSigners) -> OpEntry:
    pairs, subject, _body = state.parse_trailers(check.message)
    op = next((v for k, v in pairs if k == state.OP), "")
    return OpEntry(check, check.principal(signers), check.problem(signers), op, subject)


def status(ctx: Context, *, fetch: str | None = None) -> StatusReport:
    """Everything at a glance; the view may be untrusted (the caller says so loudly)."""
    view = read_view(ctx, remote=fetch, fetch=fetch is not None, strict=False)
    try:
        st = view.state()
    except StateCorrupt:
        if view.trust.required and not view.trust.trusted:
            raise untrusted(view) from None
        raise
    now = state.utc(ctx.clock.now())
    repo = ctx.repo.path
    recent = store.check_commits(repo, view.signers, [view.tip], max_count=RECENT)
    # The commit that set a pause is `seq` operations after the root: walk back to it and verify
    # it, so "by" is always a verified principal, never a name someone typed.
    pauses = [(s, st.pause_of(s)) for s in (state.GLOBAL, *sorted(
        set(ctx.config.ops.ecosystems) | set(st.ecosystems)))]
    depths = {st.seq - p.seq for _s, p in pauses if p is not None}
    by_commit: dict[int, CommitCheck] = {}
    if depths:
        chain = store.first_parent_chain(repo, view.tip, max(depths) + 1)
        wanted = {d: chain[d] for d in depths if d < len(chain)}
        known = {c.oid: c for c in recent}
        missing = [oid for oid in wanted.values() if oid not in known]
        if missing:
            known.update({c.oid: c for c in store.check_commits(
                repo, view.signers, missing, no_walk=True)})
        by_commit = {d: known[oid] for d, oid in wanted.items() if oid in known}
    scopes = []
    for scope, pause in pauses:
        by = commit = None
        if pause is not None and (check := by_commit.get(st.seq - pause.seq)) is not None:
            pairs, _s, _b = state.parse_trailers(check.message)
            if (state.OP, state.KINDS[state.PauseOp]) in pairs:
                by, commit = check.principal(view.signers), check.oid
        scopes.append(ScopeStatus(scope, pause, pause is not None and pause.is_active(now), by,
                                  commit))
    warnings = list(view.warnings)
    note = trial_note(ctx.config)
    if note:
        warnings.insert(0, note)
    return StatusReport(view, now, st, tuple(scopes),
                        tuple(_entry(c, view.signers) for c in recent), tuple(warnings),
                        controls.status_controls(st, now, ctx.config))


def slo_report(ctx: Context, *, fetch: str | None = None) -> tuple[View,
                                                                    controls.StatusControls]:
    """The SLOs (and the rest of the controls) from the verified state."""
    view = read_view(ctx, remote=fetch, fetch=fetch is not None)
    return view, controls.status_controls(view.state(), state.utc(ctx.clock.now()), ctx.config)


class AuditReport(NamedTuple):
    view: View
    entries: tuple[OpEntry, ...]  # newest first


def audit(ctx: Context, *, fetch: str | None = None, limit: int | None = None) -> AuditReport:
    """The ops history, each commit with its signature verdict (checked now)."""
    view = read_view(ctx, remote=fetch, fetch=fetch is not None, strict=False)
    checks = store.check_commits(ctx.repo.path, view.signers, [view.tip], max_count=limit)
    return AuditReport(view, tuple(_entry(c, view.signers) for c in checks))
