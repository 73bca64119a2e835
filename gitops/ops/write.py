"""Write operations to the ops branch, race-free: pause, resume, record, breaker, land, id new.

Reading and verifying the branch is ops.trust's; status and audit are ops.status's.

Writes (STYLE.md P5): the operation is applied to the state at the current tip, the commit is
signed and checked against the allowed signers, the remote moves with
`--force-with-lease=<ref>:<old>` and the local branch with `update-ref <ref> <new> <old>`. A lost
race fetches, re-applies the *operation* to the new tip, re-signs and retries with jittered
backoff, MAX_ATTEMPTS times, then raises StateConflict (exit 75).
"""

from __future__ import annotations

import os
import re
import string
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from gitops.config import Config, check_batch_id, id_format_problem, render_id
from gitops.context import Context
from gitops.errors import (
    ConfigError,
    GitopsError,
    IdentityMissing,
    OpsBranchMissing,
    RemoteUnreachable,
    SigningNotConfigured,
    StateConflict,
    UsageError,
)
from gitops.git import plumbing, process
from gitops.git.process import Oid, StrPath
from gitops.git.repository import resolve_base
from gitops.ops import controls, state, store
from gitops.ops.state import Operation, State
from gitops.ops.store import AllowedSigners
from gitops.ops.trust import (
    FETCH_TIMEOUT,
    View,
    Where,
    check_trust,
    choose,
    fetch_ops,
    remember_tip,
    short,
    signers_at,
    trial_note,
    untrusted,
    where_for,
)

# Writes: tries before StateConflict. Many writers in tight loops need a handful of attempts
# each with the backoff below; a smaller cap lets the losers keep colliding.
MAX_ATTEMPTS = 25
BACKOFF_BASE = 0.05  # seconds: the smallest jitter window
BACKOFF_CAP = 4.0  # seconds: the largest



# -- writing --------------------------------------------------------------------------------------


class WriteResult(NamedTuple):
    changed: bool
    tip: Oid  # the new commit, or the unchanged tip
    previous: Oid | None
    state: State
    signer: str | None  # the verified principal of the new commit
    signed: bool
    pushed: str | None  # the remote it was pushed to
    attempts: int
    reserved_id: str = ""
    warnings: tuple[str, ...] = ()
    published: bool = False  # ops init --push sent the existing branch; nothing was written


class _Lost(Exception):
    """Another writer moved the ops branch first: re-read and re-apply."""

    def __init__(self, verified: tuple[str, Oid, Oid | None] | None = None) -> None:
        super().__init__("lost the race")
        self.verified = verified  # (ref, tip, old memory): verified, so a retry skips it


class _Signing(NamedTuple):
    sign: bool
    public_keys: frozenset[str]  # "<type> <base64>" of the configured key, when it can be read


def _signing(ctx: Context) -> _Signing:
    """Check the user's signing setup before anything is written."""
    repo, cfg = ctx.repo.path, ctx.config
    if not plumbing.has_identity(repo):
        raise IdentityMissing(
            "git has no user.name / user.email to write the ops commit with.",
            hint="git config --global user.name 'Your Name' && "
                 "git config --global user.email you@example.com",
        )
    values = plumbing.config_values(repo, ("user.signingkey", "gpg.format",
                                         "gpg.ssh.defaultKeyCommand"))
    key = values.get("user.signingkey")
    fmt = (values.get("gpg.format") or "openpgp").lower()
    agent = values.get("gpg.ssh.defaultkeycommand") if fmt == "ssh" else None
    how = ("configure ssh signing: git config --global gpg.format ssh && "
           "git config --global user.signingkey ~/.ssh/id_ed25519.pub, and have the public key "
           f"added to {cfg.ops.allowed_signers} on the base branch by a reviewed change")
    if not cfg.ops.require_signed and not key and not agent:
        return _Signing(False, frozenset())
    if not key and not agent:
        raise SigningNotConfigured("no signing key: git has no user.signingkey, and every ops "
                                   "commit must be signed (ops.require_signed).", hint=how)
    if fmt != "ssh" and cfg.ops.require_signed:
        raise SigningNotConfigured(
            f"gpg.format is '{fmt}': only ssh signatures can be checked against the "
            f"allowed-signers file {cfg.ops.allowed_signers}.", hint=how)
    keys: set[str] = set()
    if key and fmt == "ssh":
        text = key.removeprefix("key::") if key.startswith("key::") else None
        if text is None:
            path = Path(key).expanduser()
            if not path.is_absolute():
                path = repo / path
            if not path.is_file():
                raise SigningNotConfigured(f"user.signingkey names {key}, which does not exist.",
                                           hint=how)
            pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
            try:
                text = pub.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
        tokens = text.split()
        keys.update(f"{t} {tokens[i + 1]}" for i, t in enumerate(tokens[:-1])
                    if t.startswith(("ssh-", "ecdsa-", "sk-")))
    return _Signing(True, frozenset(keys))


def _check_signer_listed(signing: _Signing, signers: AllowedSigners, cfg: Config) -> None:
    if not cfg.ops.require_signed or not signing.sign:
        return
    if signers.data is None:
        raise SigningNotConfigured(
            f"the allowed-signers file {signers.source} does not exist.",
            hint=f"add {cfg.ops.allowed_signers} with your public key to the base branch through "
                 "a reviewed change, then run the command again",
        )
    if signing.public_keys and not signing.public_keys & signers.keys:
        raise SigningNotConfigured(
            f"your signing key (user.signingkey) is not in {signers.source}.",
            hint=f"have your public key added to {cfg.ops.allowed_signers} on the base branch "
                 "through a reviewed change, or sign with a listed key",
        )


def _uniform(high: float) -> float:
    """A uniformly random float in [0, high) from the OS's generator (no `random` import)."""
    return high * int.from_bytes(os.urandom(7)) / (1 << 56)


def _sleep(attempt: int, took: float) -> None:
    """Full jitter: a random wait in a window that doubles with each lost race, starting at how
    long one attempt takes here (a slow machine or remote needs wider gaps between rivals) and
    capped at BACKOFF_CAP."""
    unit = max(BACKOFF_BASE, took)
    time.sleep(_uniform(min(BACKOFF_CAP, unit * 2 ** attempt)))


# (state at the tip, now, operation id) -> (new state, commit message, reserved id)
Planner = Callable[[State, datetime, str], tuple[State, str, str]]


class _Setup(NamedTuple):
    """What stays the same across the attempts of one write."""

    where: Where
    push: str | None
    signing: _Signing
    base_ref: str
    signers: AllowedSigners
    op_id: str  # a random id in the commit message: two writers never make the same commit
    action: str


def _write(ctx: Context, planner: Planner | None, *, push: str | None, action: str,
           base: tuple[str, Oid] | None = None) -> WriteResult:
    """Apply planner (None: create the branch) with CAS and bounded, jittered retries."""
    signing = _signing(ctx)
    where = where_for(ctx.config, push)
    base_ref, signers, _blob = signers_at(ctx.repo, ctx.config, base=base)
    _check_signer_listed(signing, signers, ctx.config)
    setup = _Setup(where, push, signing, base_ref, signers, os.urandom(8).hex(), action)
    note = trial_note(ctx.config)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        started = time.monotonic()
        try:
            result = _write_once(ctx, setup, planner, attempt)
            return result._replace(warnings=(note, *result.warnings)) if note else result
        except _Lost as lost:
            if lost.verified is not None:
                store.remember(ctx.repo.path, *lost.verified)
            if attempt < MAX_ATTEMPTS:
                _sleep(attempt, time.monotonic() - started)
    raise StateConflict(
        f"the ops branch moved {MAX_ATTEMPTS} times while '{action}' was being written; "
        "nothing was written.",
        hint="many writers at once: run the same command again (it re-reads the current state)",
    )


def _write_once(ctx: Context, setup: _Setup, planner: Planner | None, attempt: int
                ) -> WriteResult:
    repo, cfg, where, push = ctx.repo.path, ctx.config, setup.where, setup.push
    refs = store.read_refs(repo, where.refs)
    remote_has = True
    if push and (attempt > 1 or where.tracking not in refs):
        # The first attempt builds on the remote-tracking ref as it is: the lease rejects the
        # push when the remote has moved since, and only then is a fetch needed (saving one
        # round trip per write when nobody else wrote).
        remote_has = fetch_ops(ctx, where, writing=True)
        refs = store.read_refs(repo, where.refs)
    local = refs.get(where.local)
    remote_tip = refs.get(where.tracking) if remote_has else None
    if not remote_has:
        refs.pop(where.tracking, None)
    chosen = choose(repo, where, refs)
    now = state.utc(ctx.clock.now())
    verified: tuple[str, Oid, Oid | None] | None = None
    if planner is None:  # ops init
        if chosen is not None:
            source, tip, _diverged = chosen
            if push and not remote_has:
                return _publish(ctx, where, tip, push=push, attempt=attempt)
            return WriteResult(False, tip, tip, State(), None, False, None, attempt,
                               warnings=(f"{short(source)} already exists at {tip[:10]}",))
        previous = None
        new_state, message, reserved = State(), state.format_init(op_id=setup.op_id), ""
        parents: list[Oid] = []
    else:
        if chosen is None:
            raise OpsBranchMissing(
                f"there is no ops branch ({where.branch}) to write to.",
                hint="create it with 'git batch ops init'" + (f" --push {push}" if push else ""),
            )
        source, previous, _diverged = chosen
        trust = check_trust(repo, cfg, where=where, refs=refs, source=source, tip=previous,
                             signers=setup.signers)
        [blob] = store.read_blobs(repo, [f"{previous}:{state.STATE_FILE}"])
        view = View(where, source, previous, refs, setup.base_ref, setup.signers, trust, blob)
        if trust.required and not trust.trusted:
            raise untrusted(view)
        old_state = view.state()
        verified = (source, previous, refs.get(store.seen_ref(source)))
        new_state, message, reserved = planner(old_state, now, setup.op_id)
        if new_state is old_state:
            remember_tip(repo, refs, source, previous)
            if push and previous != remote_tip:
                # nothing to change, but this clone holds operations the remote lacks (written
                # without --push): --push publishes them, as the operator asked
                return _publish(ctx, where, previous, push=push, attempt=attempt,
                                expected=remote_tip, current=old_state)
            return WriteResult(False, previous, previous, old_state, trust.tip_principal, False,
                               None, attempt)
        parents = [previous]
    tree = store.write_snapshot(repo, {state.STATE_FILE: state.dumps(new_state)})
    try:
        commit = store.write_commit(repo, tree, parents, message, sign=setup.signing.sign,
                                         epoch=int(now.timestamp()))
    except store.SigningFailed as exc:
        raise SigningNotConfigured(
            f"git could not sign the ops commit: {exc.detail}",
            hint="check user.signingkey and gpg.format (git config --show-origin -l | grep -i "
                 "sign); see the runbook",
        ) from None
    signer = _signer_of(repo, commit, setup, cfg)
    warnings: list[str] = []
    if push:
        outcome = store.push(repo, push, where.branch, commit, remote_tip,
                                  timeout=FETCH_TIMEOUT)
        if outcome == "rejected":
            raise _Lost(verified)
        if outcome == "unreachable":
            raise RemoteUnreachable(f"cannot reach remote '{push}' to push {where.branch}; "
                                    "nothing was written there.",
                                    hint="check the network and run the command again")
    # One transaction: the local branch (compare-and-swap), this clone's memory of both refs, and
    # the remote-tracking ref. The latter moves without an old value: the push just succeeded, so
    # the remote holds commit, and `git push` itself may already have moved it (it does when the
    # remote's fetch refspec covers the branch), so no single old value would be right.
    memory = [(store.seen_ref(where.local), commit,
               refs.get(store.seen_ref(where.local)))]
    if push:
        memory.append((store.seen_ref(where.tracking), commit,
                       refs.get(store.seen_ref(where.tracking))))
    try:
        store.advance(repo, where.local, commit, local, f"git-batch: {setup.action}",
                           also=memory, force=[where.tracking] if push else [])
    except StateConflict:
        if not push:
            raise _Lost(verified) from None
        warnings.append(f"{short(where.local)} moved meanwhile; it was left as it is (the "
                        f"operation is on {push})")
    return WriteResult(True, commit, previous, new_state, signer, setup.signing.sign, push,
                       attempt, reserved, tuple(warnings))


def _signer_of(repo: StrPath, commit: Oid, setup: _Setup, cfg: Config) -> str | None:
    """The verified principal of our own new commit; refuse before any ref moves without one.

    When the configured public key could be read, _check_signer_listed has already matched it
    against the allowed-signers file, so the principal is that line's (saving two ssh-keygen
    runs per write); otherwise (a key from gpg.ssh.defaultKeyCommand) git verifies the commit.
    """
    if not setup.signing.sign:
        return None
    for principal, key in setup.signers.key_principals:
        if key in setup.signing.public_keys:
            return principal
    [mine] = store.check_commits(repo, setup.signers, [commit], max_count=1)
    signer = mine.principal(setup.signers)
    if signer is None and cfg.ops.require_signed:
        raise SigningNotConfigured(
            f"the new ops commit {commit[:10]} {mine.problem(setup.signers)}; nothing was "
            "written.", hint=f"sign with a key listed in {setup.signers.source}")
    return signer


def _publish(ctx: Context, where: Where, tip: Oid, *, push: str, attempt: int,
             expected: Oid | None = None, current: State | None = None) -> WriteResult:
    """Push this clone's ops tip, written earlier without --push, when the remote still is at
    expected (None: has no branch, as for ops init --push); nothing new is written."""
    outcome = store.push(ctx.repo.path, push, where.branch, tip, expected,
                              timeout=FETCH_TIMEOUT)
    if outcome == "rejected":
        raise _Lost
    if outcome == "unreachable":
        raise RemoteUnreachable(f"cannot reach remote '{push}' to push {where.branch}.",
                                hint="check the network and run the command again")
    return WriteResult(False, tip, expected, current or State(), None, True, push, attempt,
                       published=True)


# -- the operations -------------------------------------------------------------------------------


def init(ctx: Context, *, push: str | None = None) -> WriteResult:
    """Create the ops branch: a root commit holding an empty state."""
    return _write(ctx, None, push=push, action="ops init")


def _planner(op: Operation, render: Callable[[State, State, datetime], str] | None = None,
             policy_of: state.PolicyOf | None = None) -> Planner:
    def plan(old: State, now: datetime, op_id: str) -> tuple[State, str, str]:
        new = state.apply(old, op, now, policy_of)
        reserved = render(old, new, now) if render is not None and new is not old else ""
        return new, state.format_message(op, reserved_id=reserved, op_id=op_id), reserved
    return plan


def pause(ctx: Context, *, ecosystems: tuple[str, ...], level: str, reason: str,
          incident: str = "", until: str | None = None, push: str | None = None) -> WriteResult:
    """Pause everything (no ecosystems) or the given ecosystems at level (freeze or stop)."""
    cfg = ctx.config
    ecos = state.check_ecosystems(ecosystems, cfg.ops.ecosystems)
    if level not in state.LEVELS:
        raise UsageError(f"level '{level}' is not one of {', '.join(state.LEVELS)}.")
    op = state.PauseOp(
        ecos, level, state.check_text("--reason", reason, required=True),
        state.check_text("--incident", incident, required=False),
        state.parse_until(until, ctx.clock.now()) if until is not None else None,
    )
    if " " in op.incident:
        raise UsageError("--incident must not contain spaces.",
                         hint="pass the incident's address, for example https://status/INC-42")
    return _write(ctx, _planner(op), push=push, action="pause")


def resume(ctx: Context, *, ecosystems: tuple[str, ...], reason: str = "",
           push: str | None = None) -> WriteResult:
    """Lift the global pause (no ecosystems) or the pauses of the given ecosystems."""
    ecos = state.check_ecosystems(ecosystems, ctx.config.ops.ecosystems)
    op = state.ResumeOp(ecos, state.check_text("--reason", reason, required=False))
    return _write(ctx, _planner(op), push=push, action="resume")


def new_id(ctx: Context, *, ecosystem: str | None = None, push: str | None = None) -> WriteResult:
    """Reserve the next free batch id of today (UTC) on the ops branch."""
    cfg = ctx.config
    eco = state.check_ecosystems([ecosystem], cfg.ops.ecosystems)[0] if ecosystem else ""
    if "ecosystem" in _fields(cfg.ops.id_format) and not eco:
        raise UsageError("ops.id_format contains {ecosystem}: pass --ecosystem.")
    problem = id_format_problem(cfg)
    if problem:
        raise ConfigError(f"{cfg.source}: ops.id_format ({cfg.ops.id_format}) must give {problem}.",
                          hint="set ops.id_format, or change batch.id_pattern")
    base = resolve_base(ctx.repo, cfg)
    floor = _base_floor(ctx, base[1], state.day_of(ctx.clock.now()))

    def render(old: State, new: State, now: datetime) -> str:
        seq = state.reserved_sequence(old, new, now)
        batch_id = render_id(cfg.ops.id_format, state.day_of(now), seq, eco)
        if not cfg.id_regex.fullmatch(batch_id):
            raise GitopsError(f"no free batch id left today: {batch_id} does not match "
                              f"batch.id_pattern {cfg.batch.id_pattern}.",
                              hint="widen ops.id_format and batch.id_pattern, or wait for "
                                   "tomorrow (UTC)")
        return batch_id

    return _write(ctx, _planner(state.ReserveIdOp(eco, floor), render), push=push,
                  action="id new", base=base)


def _fields(fmt: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(fmt) if name}


def _id_regex(fmt: str, day: str) -> re.Pattern[str]:
    """Ids that fmt gives for day, with the sequence as group 'seq'."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(fmt):
        out.append(re.escape(literal))
        if name == "date":
            out.append(re.escape(day))
        elif name == "seq":
            out.append(r"(?P<seq>\d+)")
        elif name == "ecosystem":
            out.append(r"[a-z0-9._-]+")
    return re.compile("".join(out))


def _base_floor(ctx: Context, base_tip: Oid, day: str) -> int:
    """The highest sequence of day already used by commits on the base branch (cheap: only
    commits made since the start of day are read)."""
    cfg = ctx.config
    res = process.run("log", f"--since={day}T00:00:00Z", "--format=%B%x00", "--end-of-options",
                     base_tip, "--", repo=ctx.repo.path)
    keys = "|".join(re.escape(k) for k in (cfg.batch.trailer_key, *cfg.batch.legacy_keys))
    line = re.compile(rf"^(?:{keys})\s*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
    ids = _id_regex(cfg.ops.id_format, day)
    best = 0
    for message in res.text.split("\0"):
        for found in line.findall(message):
            match = ids.fullmatch(found)
            if match:
                best = max(best, int(match.group("seq")))
    return best


def land(ctx: Context, batch_id: str, commits: tuple[str, ...], *,
         push: str | None = None) -> WriteResult:
    """Record that batch_id landed on the base branch as commits (merge dropped its trailers)."""
    check_batch_id(ctx.config, batch_id)
    if not commits:
        raise UsageError("name at least one commit.", hint="git batch land ID COMMIT...")
    base_ref, base_tip = resolve_base(ctx.repo, ctx.config)
    oids: list[str] = []
    for rev in commits:
        if not rev or rev.startswith("-") or any(ord(c) < 32 for c in rev):
            raise UsageError(f"'{rev}' is not a commit.", hint="pass commit ids or branch names")
        oid = plumbing.resolve_commit(ctx.repo.path, rev)
        if oid is None:
            raise UsageError(f"'{rev}' does not name a commit in this repository.",
                             hint="fetch it first, or copy the id from 'git log'")
        if not plumbing.is_ancestor(ctx.repo.path, oid, base_tip):
            raise UsageError(f"commit {oid[:10]} is not on the base branch {short(base_ref)}.",
                             hint="record only commits that landed (git branch -a --contains ID)")
        oids.append(oid)
    op = state.LandOp(batch_id, tuple(sorted(set(oids))))
    return _write(ctx, _planner(op), push=push, action="land", base=(base_ref, base_tip))


# -- automatic controls -----------------------------------------------------------------


def record(ctx: Context, *, ecosystem: str, results: str | None = None, source: str = "-",
           passed: int | None = None, failed: int | None = None, minutes: tuple[str, ...] = (),
           push: str | None = None) -> WriteResult:
    """Record one CI run of ecosystem (a results file's text, or counts) as one signed commit;
    on contention the *operation* is re-applied to the new tip (breaker, SLO and budget)."""
    cfg = ctx.config
    [eco] = state.check_ecosystems([ecosystem], cfg.ops.ecosystems)
    extra = controls.parse_minutes(minutes)
    if results is not None:
        if passed is not None or failed is not None:
            raise UsageError("pass either --results or --passed/--failed, not both.")
        op = controls.record_from_results(eco, controls.parse_results(results, source), extra,
                                          cfg.breaker.policy_of(eco))
    elif passed is not None or failed is not None:
        op = controls.record_from_counts(eco, passed or 0, failed or 0, extra)
    elif extra:
        op = controls.record_from_counts(eco, 0, 0, extra)
    else:
        raise UsageError("nothing to record.",
                         hint="pass --results run.jsonl, or --passed N --failed M")
    return _write(ctx, _planner(op, policy_of=cfg.breaker.policy_of), push=push, action="record")


def breaker_action(ctx: Context, *, ecosystem: str, action: str, reason: str,
                   push: str | None = None) -> WriteResult:
    """Reset (close) or trip (open until reset) the breaker of ecosystem by hand."""
    [eco] = state.check_ecosystems([ecosystem], ctx.config.ops.ecosystems)
    if action not in state.BREAKER_ACTIONS:
        raise UsageError(f"breaker action '{action}' is not one of "
                         f"{', '.join(state.BREAKER_ACTIONS)}.")
    op = state.BreakerOp(eco, action, state.check_text("--reason", reason, required=True))
    return _write(ctx, _planner(op, policy_of=ctx.config.breaker.policy_of), push=push,
                  action=f"breaker {action}")
