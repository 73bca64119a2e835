"""Read and verify the ops branch: which ref, which tip, whose signatures, which state.

Trust (DESIGN.md "Ops branch: the rules"): who may operate is the allowed-signers file
of the *base* branch, never a file on the ops branch. A commit counts only with a good ssh
signature (`%G?` = G) by a principal listed there. With `ops.require_signed` (the default) the
state is untrusted when the tip does not verify, when any commit since the tip this clone last
verified does not, or when an ops ref no longer contains the tip this clone last verified
(a rewrite). This clone's memory is one ref per ops ref under refs/git-batch/ops-seen/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from gitops.config import Config, is_remote_name
from gitops.context import Context
from gitops.errors import (
    OpsBranchMissing,
    OpsDiverged,
    RemoteUnreachable,
    StateCorrupt,
    StateUntrusted,
    UsageError,
)
from gitops.git import plumbing
from gitops.git.process import Oid, StrPath
from gitops.git.repository import RepoInfo, read_refs, resolve_base
from gitops.ops import state, store
from gitops.ops.state import State
from gitops.ops.store import AllowedSigners, CommitCheck

FETCH_TIMEOUT = 60.0  # seconds a fetch or push may take before the remote counts as unreachable


# -- where the ops branch lives -------------------------------------------------------------------


class Where(NamedTuple):
    branch: str
    remote: str
    local: str  # refs/heads/<branch>
    tracking: str  # refs/remotes/<remote>/<branch>

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.local, self.tracking, store.seen_ref(self.local),
                store.seen_ref(self.tracking))


def where_for(cfg: Config, remote: str | None) -> Where:
    name = remote or cfg.ops.remote
    if not is_remote_name(name):
        raise UsageError(f"'{name}' is not a remote name.",
                         hint="pass the name of a configured remote (git remote -v), not a URL")
    branch = cfg.ops.branch
    return Where(branch, name, store.branch_ref(branch),
                 store.tracking_ref(name, branch))


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
    if local is None or local == tracking or plumbing.is_ancestor(repo, local, tracking):
        return where.tracking, tracking, False
    if plumbing.is_ancestor(repo, tracking, local):
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
    got = store.fetch(ctx.repo.path, where.remote, where.branch, timeout=FETCH_TIMEOUT)
    if got is None:
        then = ("nothing was written; run the command again when it answers" if writing else
                "gate fails closed unless ops.on_unreachable = \"open\"")
        if plumbing.config_get(ctx.repo.path, f"remote.{where.remote}.url") is None:
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
    blobs = store.read_blobs(repo.path, specs)
    signers = store.parse_allowed_signers(f"{short(base_ref)}:{path}", blobs[0])
    return base_ref, signers, blobs[1] if tip else None




# Commits verified in one `git log`; a longer gap since the last verified tip also asks git
# whether that tip is still an ancestor.
WINDOW_CAP = 500


def check_trust(repo: StrPath, cfg: Config, *, where: Where, refs: dict[str, Oid], source: str,
                tip: Oid, signers: AllowedSigners) -> Trust:
    """Trust of the ops history at tip, read from ref source.

    Every commit since the tip this clone verified last is verified again; the same walk tells
    whether that tip is still an ancestor (some commit of `tip ^seen` has it as a parent),
    otherwise the ref was rewritten."""
    seen_src = refs.get(store.seen_ref(source))
    if seen_src is None or seen_src == tip:
        checks = store.check_commits(repo, signers, [tip], max_count=1)
    else:
        checks = store.check_commits(repo, signers, [tip, f"^{seen_src}"], max_count=WINDOW_CAP)
    problems: list[str] = []
    if signers.data is None:
        problems.append(f"the allowed-signers file {signers.source} does not exist, so no "
                        "operator can be verified")
    if seen_src is not None and seen_src != tip:
        descends = any(seen_src in c.parents for c in checks)
        if not descends and len(checks) == WINDOW_CAP:
            descends = plumbing.is_ancestor(repo, seen_src, tip)
        if not descends:
            problems.append(_rewritten(source, seen_src))
            checks = checks[:1]  # not history this clone knew: report the tip only
    other = where.tracking if source == where.local else where.local
    seen, now = refs.get(store.seen_ref(other)), refs.get(other)
    if seen is not None and now is not None and seen != now \
            and not plumbing.is_ancestor(repo, seen, now):
        problems.append(_rewritten(other, seen))
    for check in checks:
        problem = check.problem(signers)
        if problem:
            what = "the tip" if check.oid == tip else "commit"
            problems.append(f"{what} {check.oid[:10]} {problem}")
    tip_principal = checks[0].principal(signers) if checks and checks[0].oid == tip else None
    return Trust(cfg.ops.require_signed, tuple(problems), tuple(checks), tip_principal)


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
    old = refs.get(store.seen_ref(source))
    if old != tip:
        store.remember(repo, source, tip, old)


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
    trust = check_trust(repo.path, cfg, where=where, refs=refs, source=source, tip=tip,
                        signers=signers)
    parsed = parse_state(source, tip, blob)
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


def read_landings(repo: RepoInfo, cfg: Config) -> dict[str, tuple[str, ...]]:
    """Batch id -> full ids of base commits recorded with `git batch land`, from the verified
    ops state; {} without an ops branch. Raises StateUntrusted (require_signed and the state does
    not verify) and StateCorrupt; never fetches. Reads the newer of batch-ops and
    <remote>/batch-ops (the remote-tracking one when both moved)."""
    where = where_for(cfg, None)
    refs = read_refs(repo, where.refs)
    if refs.get(where.local) is None and refs.get(where.tracking) is None:
        return {}
    view = read_view_of(repo, cfg, remote=None, fetch=False, strict=True)
    return dict(view.state().landings)


def trial_note(cfg: Config) -> str | None:
    """The sentence every output carries when signatures are not required."""
    if cfg.ops.require_signed:
        return None
    return ("ops.require_signed = false: signatures on the ops branch are NOT enforced (trial "
            "mode); anyone who can push can change the state")
