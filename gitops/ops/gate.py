"""The pre-flight decision: may an ecosystem run a stage now? Fails closed.

A manual pause decides first (it always wins); then the circuit breaker and the CI-minutes
budget. The state comes from the verified ops branch (ops.trust) only.
"""

from __future__ import annotations

from typing import NamedTuple

from gitops.context import Context
from gitops.errors import OpsBranchMissing, RemoteUnreachable
from gitops.git.process import Oid
from gitops.ops import controls, state
from gitops.ops.controls import GateControls
from gitops.ops.trust import read_view, trial_note


class GateResult(NamedTuple):
    ecosystem: str
    stage: str
    decision: state.Decision
    tip: Oid | None
    trust: str  # trusted / unverified / unknown
    warnings: tuple[str, ...] = ()
    controls: GateControls | None = None  # breaker and budget


def gate(ctx: Context, *, ecosystem: str, stage: str, fetch: str | None = None,
         candidates: tuple[str, ...] = ()) -> GateResult:
    """May ecosystem run stage? Raises StateUntrusted, RemoteUnreachable, OpsBranchMissing.

    A manual pause decides first (it always wins); then the breaker and the budget
    (result.controls.refusal says which refuses)."""
    cfg = ctx.config
    [eco] = state.check_ecosystems([ecosystem], cfg.ops.ecosystems)
    warnings: list[str] = []
    note = trial_note(cfg)
    if note:
        warnings.append(note)
    try:
        view = read_view(ctx, remote=fetch, fetch=fetch is not None)
    except RemoteUnreachable as exc:
        if cfg.ops.on_unreachable != "open":
            raise
        warnings.append(f"{exc.message} Deciding from this clone's copy "
                        "(ops.on_unreachable = \"open\").")
        try:
            view = read_view(ctx, remote=fetch, fetch=False)
        except OpsBranchMissing:
            decision = state.Decision(True, f"remote '{fetch}' unreachable and no local copy of "
                                      "the ops branch; going on because ops.on_unreachable = "
                                      "\"open\"")
            return GateResult(eco, stage, decision, None, "unknown", tuple(warnings))
    warnings += view.warnings
    if not view.trust.required:
        warnings += [f"{p} (not enforced)" for p in view.trust.problems]

    st, now = view.state(), state.utc(ctx.clock.now())
    decision = state.decide(st, eco, stage, now)
    gc = controls.gate_controls(st, eco, stage, now, cfg, candidates=candidates)
    return GateResult(eco, stage, decision, view.tip, view.trust.label, tuple(warnings), gc)

