"""Read and verify the ops branch, and the gate: everything `git batch gate` runs.

Trust (issue 5, DESIGN.md "Ops branch: the rules"): who may operate is the allowed-signers file
of the *base* branch, never a file on the ops branch. A commit counts only with a good ssh
signature (`%G?` = G) by a principal listed there. With `ops.require_signed` (the default) the
state is untrusted when the tip does not verify, when any commit since the tip this clone last
verified does not, or when an ops ref no longer contains the tip this clone last verified
(a rewrite). This clone's memory is one ref per ops ref under refs/git-batch/ops-seen/.

Kept apart from ops.py (writes, status, audit) so that the gate and the hooks import neither
the writers nor the controls before git has started verifying (issue 5: gate <= 100 ms).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from gitops import gitcli, ops_branch, state, verify_ahead
from gitops.config import Config, is_remote_name
from gitops.errors import (
    OpsBranchMissing,
    OpsDiverged,
    RemoteUnreachable,
    StateCorrupt,
    StateUntrusted,
    UsageError,
)
from gitops.gitcli import Oid
from gitops.ops_branch import AllowedSigners, CommitCheck
from gitops.records import NamedTuple
from gitops.repoinfo import RepoInfo, git_dirs, read_refs, resolve_base
from gitops.state import State
from gitops.verify_ahead import WINDOW_CAP, trust_question

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from gitops.context import Context
    from gitops.controls import GateControls
    from gitops.gitcli import StrPath

FETCH_TIMEOUT = 60.0  # seconds a fetch or push may take before the remote counts as unreachable


# -- where the ops branch lives -------------------------------------------------------------------


class Where(NamedTuple):
    branch: str
    remote: str
    local: str  # refs/heads/<branch>
    tracking: str  # refs/remotes/<remote>/<branch>

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.local, self.tracking, ops_branch.seen_ref(self.local),
                ops_branch.seen_ref(self.tracking))


def where_for(cfg: Config, remote: str | None) -> Where:
    name = remote or cfg.ops.remote
    if not is_remote_name(name):
        raise UsageError(f"'{name}' is not a remote name.",
                         hint="pass the name of a configured remote (git remote -v), not a URL")
    branch = cfg.ops.branch
    return Where(branch, name, ops_branch.branch_ref(branch),
                 ops_branch.tracking_ref(name, branch))


def short(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


def choose(repo: StrPath, where: Where, refs: dict[str, Oid], *, reading: bool = False
            ) -> tuple[str, Oid, bool] | None:
    """The ops ref to use: the remote-tracking one unless the local branch is ahead of it.

    When both moved, readers get the published (remote-tracking) state and writers OpsDiverged:
    a write must not build on either side and silently drop the other's operations. The last
    item says whether they diverged.
    """
    local, tracking = refs.get(where.local), refs.get(where.tracking)
    if local is None and tracking is None:
        return None
    if tracking is None:
        return where.local, local, False  # type: ignore[return-value]
    if local is None or local == tracking or gitcli.is_ancestor(repo, local, tracking):
        return where.tracking, tracking, False
    if gitcli.is_ancestor(repo, tracking, local):
        return where.local, local, False
    if reading:
        return where.tracking, tracking, True
    raise OpsDiverged(
        f"{short(where.local)} ({local[:10]}) and {short(where.tracking)} ({tracking[:10]}) "
        "have both moved: this clone holds operations the remote does not, and the other way "
        "round.",
        hint=f"compare them with 'git log --oneline {short(where.tracking)}..."
             f"{short(where.local)}'; see the runbook to publish or drop the local ones",
    )


# -- reading and verifying ------------------------------------------------------------------------


class Trust(NamedTuple):
    required: bool  # ops.require_signed
    problems: tuple[str, ...]  # empty: everything verified
    checked: tuple[CommitCheck, ...]  # the commits verified now, newest first
    tip_principal: str | None

    @property
    def trusted(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        if not self.required:
            return "unverified"
        return "trusted" if self.trusted else "untrusted"


class View(NamedTuple):
    where: Where
    source: str  # the ref the tip was read from
    tip: Oid
    refs: dict[str, Oid]
    base_ref: str
    signers: AllowedSigners
    trust: Trust
    state_blob: bytes | None
    warnings: tuple[str, ...] = ()
    parsed: State | StateCorrupt | None = None  # state_blob, parsed while git verified the tip

    def state(self) -> State:
        """The state at the tip; StateCorrupt when the commit holds no readable state."""
        parsed = self.parsed if self.parsed is not None else parse_state(self.source, self.tip,
                                                                        self.state_blob)
        if isinstance(parsed, StateCorrupt):
            raise parsed
        return parsed


def parse_state(source: str, tip: Oid, blob: bytes | None) -> State | StateCorrupt:
    """The state file of the ops commit tip (read from ref source), or why it is unreadable."""
    where = f"{short(source)} at {tip[:10]}"
    if blob is None:
        return StateCorrupt(
            f"{where}: the commit has no {state.STATE_FILE}.",
            hint="restore the last good state (see the runbook); never edit the ops branch "
                 "by hand",
        )
    try:
        return state.loads(blob, where)
    except StateCorrupt as exc:
        return exc


def fetch_ops(ctx: Context, where: Where, *, writing: bool = False) -> bool:
    """Fetch the ops branch of where.remote; False when the remote has none."""
    got = ops_branch.fetch(ctx.repo.path, where.remote, where.branch, timeout=FETCH_TIMEOUT)
    if got is None:
        then = ("nothing was written; run the command again when it answers" if writing else
                "gate fails closed unless ops.on_unreachable = \"open\"")
        if gitcli.config_get(ctx.repo.path, f"remote.{where.remote}.url") is None:
            raise RemoteUnreachable(
                f"cannot reach remote '{where.remote}': no such remote in this repository.",
                hint=f"pass a remote that 'git remote -v' lists; {then}",
            )
        raise RemoteUnreachable(
            f"cannot reach remote '{where.remote}' to fetch {where.branch}.",
            hint=f"check the network and 'git ls-remote {where.remote}'; {then}",
        )
    return got


def signers_at(repo: RepoInfo, cfg: Config, tip: Oid | None = None, *,
             base: tuple[str, Oid] | None = None) -> tuple[str, AllowedSigners, bytes | None]:
    """The allowed-signers file of the base branch (never the ops branch's own copy), and the
    state file at tip, read together."""
    base_ref, base_tip = base or resolve_base(repo, cfg)
    path = cfg.ops.allowed_signers
    specs = [f"{base_tip}:{path}"] + ([f"{tip}:{state.STATE_FILE}"] if tip else [])
    blobs = ops_branch.read_blobs(repo.path, specs)
    signers = ops_branch.parse_allowed_signers(f"{short(base_ref)}:{path}", blobs[0])
    return base_ref, signers, blobs[1] if tip else None




def start_trust(repo: StrPath, cfg: Config, *, where: Where, refs: dict[str, Oid], source: str,
                tip: Oid, signers: AllowedSigners, git_dir: StrPath | None = None
                ) -> Callable[[], Trust]:
    """Start verifying the ops history at tip; the returned function waits and judges it.

    The caller does its own work (parsing the state) while git and ssh-keygen check the
    signatures on the other core. With git_dir, a check verify_ahead started for this very
    question is taken over instead of starting another."""
    seen_src = refs.get(ops_branch.seen_ref(source))
    revs, window = trust_question(refs, source, tip)
    early = verify_ahead.take(git_dir, revs, window, signers.data) if git_dir else None
    pending = early or ops_branch.start_check(repo, signers, revs, max_count=window)

    def judge() -> Trust:
        checks = pending.result()
        problems: list[str] = []
        if signers.data is None:
            problems.append(f"the allowed-signers file {signers.source} does not exist, so no "
                            "operator can be verified")
        if seen_src is not None and seen_src != tip:
            descends = any(seen_src in c.parents for c in checks)
            if not descends and len(checks) == WINDOW_CAP:
                descends = gitcli.is_ancestor(repo, seen_src, tip)
            if not descends:
                problems.append(_rewritten(source, seen_src))
                checks = checks[:1]  # not history this clone knew: report the tip only
        other = where.tracking if source == where.local else where.local
        seen, now = refs.get(ops_branch.seen_ref(other)), refs.get(other)
        if seen is not None and now is not None and seen != now \
                and not gitcli.is_ancestor(repo, seen, now):
            problems.append(_rewritten(other, seen))
        for check in checks:
            problem = check.problem(signers)
            if problem:
                what = "the tip" if check.oid == tip else "commit"
                problems.append(f"{what} {check.oid[:10]} {problem}")
        tip_principal = checks[0].principal(signers) if checks and checks[0].oid == tip else None
        return Trust(cfg.ops.require_signed, tuple(problems), tuple(checks), tip_principal)

    return judge


def check_trust(repo: StrPath, cfg: Config, *, where: Where, refs: dict[str, Oid], source: str,
                tip: Oid, signers: AllowedSigners) -> Trust:
    """Trust of the ops history at tip (start_trust, waited for)."""
    return start_trust(repo, cfg, where=where, refs=refs, source=source, tip=tip,
                       signers=signers)()


def _rewritten(ref: str, seen: Oid) -> str:
    return (f"{short(ref)} was rewritten: it no longer contains {seen[:10]}, which this clone "
            "verified before")


def untrusted(view: View) -> StateUntrusted:
    first = view.trust.problems[0]
    more = len(view.trust.problems) - 1
    return StateUntrusted(
        f"UNTRUSTED ops state: {first}" + (f" (and {more} more)" if more else "") + ".",
        hint="do not run batches; 'git batch status' lists every problem and the runbook says "
             "how to restore a verified state",
    )


def remember_tip(repo: StrPath, refs: dict[str, Oid], source: str, tip: Oid) -> None:
    old = refs.get(ops_branch.seen_ref(source))
    if old != tip:
        ops_branch.remember(repo, source, tip, old)


def read_view(ctx: Context, *, remote: str | None = None, fetch: bool = False,
              strict: bool = True) -> View:
    """The ops branch as this clone sees it, verified; StateUntrusted when strict and it fails."""
    return read_view_of(ctx.repo, ctx.config, remote=remote, fetch=fetch, strict=strict,
                      fetcher=lambda where: fetch_ops(ctx, where))


def read_view_of(repo: RepoInfo, cfg: Config, *, remote: str | None, fetch: bool, strict: bool,
               fetcher: Callable[[Where], bool] | None = None) -> View:
    where = where_for(cfg, remote)
    remote_has = True
    if fetch:
        assert fetcher is not None
        remote_has = fetcher(where)
    refs = read_refs(repo, where.refs)
    if not remote_has:
        refs.pop(where.tracking, None)  # a stale copy of a branch the remote no longer has
        if refs.get(where.local) is None:
            raise OpsBranchMissing(
                f"remote '{where.remote}' has no {where.branch} branch, and neither has this "
                "clone.",
                hint=f"create it with 'git batch ops init --push {where.remote}'",
            )
    chosen = choose(repo.path, where, refs, reading=True)
    if chosen is None:
        raise OpsBranchMissing(
            f"there is no ops branch: neither {short(where.local)} nor {short(where.tracking)} "
            "exists.",
            hint=f"create it with 'git batch ops init', or fetch it ('--fetch {where.remote}')",
        )
    source, tip, diverged = chosen
    base_ref, signers, blob = signers_at(repo, cfg, tip)
    judge = start_trust(repo.path, cfg, where=where, refs=refs, source=source, tip=tip,
                        signers=signers, git_dir=repo.git_dir)
    try:
        parsed = parse_state(source, tip, blob)  # while git and ssh-keygen verify
    finally:
        trust = judge()
    # what the next read needs to start its check early (gitops/verify_ahead.py)
    verify_ahead.remember(git_dirs(repo), verify_ahead.Hint(
        os.path.realpath(repo.git_dir), where.refs, signers.data))
    warnings: list[str] = []
    if not remote_has:
        warnings.append(f"remote '{where.remote}' has no {where.branch} branch; using the local "
                        "one")
    if diverged:
        warnings.append(f"{short(where.local)} holds operations {short(where.tracking)} does "
                        f"not (never pushed?); showing {short(where.tracking)}")
    view = View(where, source, tip, refs, base_ref, signers, trust, blob, tuple(warnings),
                parsed)
    if trust.required and not trust.trusted:
        if strict:
            raise untrusted(view)
        return view
    if isinstance(parsed, StateCorrupt):
        return view  # verified but unreadable: callers that need the state refuse
    remember_tip(repo.path, refs, source, tip)
    return view


def trial_note(cfg: Config) -> str | None:
    """The sentence every output carries when signatures are not required."""
    if cfg.ops.require_signed:
        return None
    return ("ops.require_signed = false: signatures on the ops branch are NOT enforced (trial "
            "mode); anyone who can push can change the state")


# -- gate -----------------------------------------------------------------------------------------


class GateResult(NamedTuple):
    ecosystem: str
    stage: str
    decision: state.Decision
    tip: Oid | None
    trust: str  # trusted / unverified / unknown
    warnings: tuple[str, ...] = ()
    controls: GateControls | None = None  # breaker and budget (issue 6)


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
    from gitops import controls  # noqa: PLC0415 - after the verification, see start_trust

    st, now = view.state(), state.utc(ctx.clock.now())
    decision = state.decide(st, eco, stage, now)
    gc = controls.gate_controls(st, eco, stage, now, cfg, candidates=candidates)
    return GateResult(eco, stage, decision, view.tip, view.trust.label, tuple(warnings), gc)

