"""What each installed hook runs: decode git's hook args/stdin, call core checks.

Also the orchestration of `git batch check --range A..B` (the CI status check): both gather the
commits, read the ops branch and the reverted batches only when a commit names a batch, and hand
plain data to `rules.refusals()`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from gitops import config
from gitops.context import Context
from gitops.enforce import rules
from gitops.enforce.rules import Candidate, OpsFacts, Refusal
from gitops.errors import GitopsError, OpsBranchMissing, StateCorrupt, UsageError
from gitops.git import plumbing, process, trailers
from gitops.history import log, query
from gitops.ops import trust

HOOK_NAMES = ("commit-msg", "prepare-commit-msg", "pre-push", "pre-receive")
LEGACY_SUFFIX = ".legacy"


class CheckReport:
    """What a hook or `check` run found; filled in as the commits are judged."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str, str]] = []  # (from, to) full Oids
        self.checked = 0
        self.refusals: list[Refusal] = []
        self.notes: list[str] = []

    @property
    def exit_code(self) -> int:
        return self.refusals[0].error.exit_code if self.refusals else 0


# -- gathering facts ------------------------------------------------------------------------------


def _candidates(ctx: Context, revs: list[str]) -> list[Candidate]:
    data = plumbing.log_hook_commits(ctx.repo.path, revs, plumbing.LOG_FORMAT, plumbing.LOG_DIFF)
    return [Candidate(r.info.oid, r.message, r.info.email, tuple(c.path for c in r.changes),
                      merge=len(r.info.parents) > 1) for r in log.parse_log(data)]


def _ops_facts(ctx: Context, notes: list[str]) -> OpsFacts:
    try:
        view = trust.read_view(ctx, strict=False)
    except OpsBranchMissing:
        notes.append(f"no ops branch ({ctx.config.ops.branch}): pauses are not checked.")
        return OpsFacts("absent")
    if view.trust.required and not view.trust.trusted:
        return OpsFacts("untrusted", "; ".join(view.trust.problems))
    try:
        return OpsFacts("ok", state=view.state())
    except StateCorrupt as exc:
        return OpsFacts("untrusted", exc.message)


_REVERTED = ("reverted", "partly-reverted")


def _reverted(ctx: Context, notes: list[str]) -> frozenset[str]:
    """The batches reverted (wholly or partly) on the base, from the history index."""
    try:
        summaries = query.list_batches(ctx)
    except GitopsError as exc:
        notes.append(f"reverted batches not checked: {exc.message}")
        return frozenset()
    return frozenset(s.batch_id for s in summaries if s.state in _REVERTED)


def judge(ctx: Context, cands: list[Candidate], *, door: rules.Door, target: str | None,
          report: CheckReport) -> CheckReport:
    """Add the refusals of cands to report; ops state and reverted batches read lazily."""
    cfg = ctx.config
    report.checked += len(cands)
    ops_facts = OpsFacts("absent")
    reverted: frozenset[str] = frozenset()
    if any(rules.needs_context(cfg, c) for c in cands):
        ops_facts = _ops_facts(ctx, report.notes)
        reverted = _reverted(ctx, report.notes)
    now = ctx.clock.now()
    for c in cands:
        report.refusals += rules.refusals(cfg, c, door=door, target=target, ops=ops_facts,
                                            reverted=reverted, now=now)
    return report


# -- git batch check ------------------------------------------------------------------------------


def parse_range(ctx: Context, text: str) -> tuple[str, str]:
    """'A..B' -> (Oid of A, Oid of B); each side resolved with rev-parse --end-of-options."""
    if "..." in text or text.count("..") != 1:
        raise UsageError(f"'{text}' is not a range A..B.",
                         hint="pass --range BASE..HEAD, e.g. origin/main..HEAD")
    left, right = text.split("..")
    oids = []
    for side in (left or "HEAD", right or "HEAD"):
        oid = plumbing.resolve_commit(ctx.repo.path, side)
        if oid is None:
            raise UsageError(f"'{side}' in --range '{text}' is not a commit here.",
                             hint="fetch it first (actions/checkout with fetch-depth: 0)")
        oids.append(oid)
    return oids[0], oids[1]


def check(ctx: Context, ranges: Iterable[str], *, target: str | None) -> CheckReport:
    """Judge every commit of each range A..B as it would land on target."""
    report = CheckReport()
    for text in ranges:
        for part in text.split():
            a, b = parse_range(ctx, part)
            report.ranges.append((a, b))
            judge(ctx, _candidates(ctx, [b, f"^{a}"]), door="check", target=target,
                  report=report)
    if not report.ranges:
        raise UsageError("no range to check.",
                         hint="pass --range BASE..HEAD or set GIT_BATCH_RANGE")
    return report


# -- hooks ----------------------------------------------------------------------------------------


def _say(report: CheckReport, name: str) -> None:
    for note in dict.fromkeys(report.notes):
        sys.stderr.write(f"git-batch: {name}: note: {note}\n")
    for r in report.refusals:
        sys.stderr.write(f"git-batch: {name}: refused {r.label}: {r.reason}\n  fix: {r.fix}\n")
    if report.refusals:
        runbook = report.refusals[0].error.runbook
        sys.stderr.write(f"runbook: {runbook}\n")


_HEX = frozenset("0123456789abcdef")


def _is_oid(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= _HEX


def _lines(stdin: bytes) -> list[list[str]]:
    """git's "<old> <new> <ref>" (pre-receive) or "<ref> <oid> <ref> <oid>" (pre-push) lines.

    Only object ids reach git's argv: a line whose ids are not hex is ignored (P2).
    """
    out = []
    for line in stdin.decode("utf-8", "replace").splitlines():
        fields = line.split()
        oids = fields[:2] if len(fields) == 3 else fields[1::2]
        if len(fields) in (3, 4) and all(_is_oid(o) for o in oids):
            out.append(fields)
    return out


def _commit_msg(ctx: Context, args: list[str]) -> CheckReport:
    if not args:
        raise UsageError("commit-msg: git passes the message file; none given.")
    message = rules.clean_message(Path(args[0]).read_text(encoding="utf-8", errors="replace"))
    cfg = ctx.config
    repo = ctx.repo.path
    paths = tuple(plumbing.staged_paths(repo)) if cfg.hooks.require_trailer != "off" else ()
    policy = cfg.hooks
    email = (plumbing.author_email(repo)
             if policy.require_trailer == "bots" or policy.exempt_humans else "")
    target = plumbing.current_branch(repo) if policy.target_branches else None
    merge = os.path.exists(os.path.join(ctx.repo.git_dir, "MERGE_HEAD"))
    cand = Candidate("", message, email, paths, merge=merge)
    return judge(ctx, [cand], door="commit", target=target, report=CheckReport())


def _prepare_commit_msg(ctx: Context, args: list[str], environ: Mapping[str, str]) -> int:

    batch_id = environ.get("GIT_BATCH_ID", "").strip()
    if not batch_id or not args:
        return 0
    cfg = ctx.config
    config.check_batch_id(cfg, batch_id)
    path = Path(args[0])
    text = path.read_text(encoding="utf-8")
    out = trailers.add_trailer(text, cfg.batch.trailer_key, batch_id)
    eco = environ.get("GIT_BATCH_ECOSYSTEM", "").strip()
    if eco:
        out = trailers.add_trailer(out, cfg.batch.ecosystem_trailer, eco)
    if out != text:
        tmp = path.with_name(path.name + ".git-batch.tmp")
        tmp.write_text(out, encoding="utf-8")
        os.replace(tmp, path)
    return 0


def _pre_push(ctx: Context, stdin: bytes, environ: Mapping[str, str]) -> CheckReport:
    report = CheckReport()
    zero = process.ZERO_OID
    lines = _lines(stdin)
    if not lines and environ.get("PRE_COMMIT_TO_REF"):
        # the pre-commit framework eats git's stdin and passes the push in variables instead
        to = plumbing.resolve_commit(ctx.repo.path, environ["PRE_COMMIT_TO_REF"])
        frm = plumbing.resolve_commit(ctx.repo.path, environ.get("PRE_COMMIT_FROM_REF", ""))
        remote_ref = environ.get("PRE_COMMIT_REMOTE_BRANCH", "")
        if to is not None:
            lines = [["-", to, remote_ref, frm or zero]]
    for fields in lines:
        if len(fields) < 4 or fields[1] == zero:
            continue  # a deletion lands nothing
        local, remote_ref, remote = fields[1], fields[2], fields[3]
        revs = [local]
        if remote != zero and plumbing.object_exists(ctx.repo.path, process.Oid(remote)):
            revs.append(f"^{remote}")
        else:
            revs += ["--not", "--remotes"]
        judge(ctx, _candidates(ctx, revs), door="push", target=remote_ref, report=report)
    return report


def _pre_receive(ctx: Context, stdin: bytes) -> CheckReport:
    report = CheckReport()
    for fields in _lines(stdin):
        _old, new, ref = fields[:3]
        if new == process.ZERO_OID:
            continue
        # The refs do not move before pre-receive succeeds: `--not --all` leaves exactly the
        # commits this push brings (githooks(5), "pre-receive").
        judge(ctx, _candidates(ctx, [new, "--not", "--all"]), door="receive", target=ref,
              report=report)
    return report


def _chain(name: str, args: list[str], stdin: bytes, environ: Mapping[str, str]) -> int:
    """Run `<name>.legacy` beside the shim first (hooks install --chain kept it there)."""
    shim = environ.get("GIT_BATCH_HOOK_PATH")
    if not shim:
        return 0
    legacy = Path(shim).with_name(name + LEGACY_SUFFIX)
    if not (legacy.is_file() and os.access(legacy, os.X_OK)):
        return 0
    return process.run_program(legacy, args, cwd=Path.cwd(), stdin=stdin)


def run_hook(ctx_loader: Callable[[], Context], name: str, args: list[str], stdin: bytes,
             environ: Mapping[str, str]) -> int:
    """Run hook name as git would: the chained legacy hook first, then our checks."""
    if name not in HOOK_NAMES:
        raise UsageError(f"'{name}' is not a hook git-batch implements.",
                         hint=f"one of: {', '.join(HOOK_NAMES)}")
    code = _chain(name, args, stdin, environ)
    if code != 0:
        return code
    ctx = ctx_loader()
    if name == "prepare-commit-msg":
        return _prepare_commit_msg(ctx, args, environ)
    if name == "commit-msg":
        report = _commit_msg(ctx, args)
    elif name == "pre-push":
        report = _pre_push(ctx, stdin, environ)
    else:
        report = _pre_receive(ctx, stdin)
    _say(report, name)
    return report.exit_code
