"""A head start for the gate: verify the ops tip while the configuration code is still loading.

Most of `git batch gate` is waiting: about 15 ms importing and parsing the configuration, then
about 18 ms for `git log %G?` and its two ssh-keygen runs. What that verification needs (the
ops tip, the tip this clone verified last, the allowed-signers bytes at the base) is known only
once the configuration is parsed. But it is nearly always what the previous read of the ops
branch predicted. So every read writes the question the next one will ask (`remember`), with
the ref values it follows from, to `<common git dir>/git-batch/verify-ahead`; the gate reads that
file first thing (`start`: os and the ref files only) and, when every one of those refs still
holds the same value, starts that verification at once. When the gate reaches the point of
verifying, `take` hands the running check over only if the question it worked out itself is
identical: same repository, same revisions, same window, same allowed-signers bytes. Otherwise
the early check is killed and the gate verifies as it always does.

Nothing here caches an answer: the verdict always comes from git, computed in this process for
exactly the question the gate asks. The file only decides what to start early, so a stale,
damaged or forged one costs time (a discarded check), never trust. tests/ops/test_verify_ahead.py
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from gitops import ops_branch
from gitops.errors import GitopsError
from gitops.records import NamedTuple
from gitops.refs import GitDirs, RefReader, discover, is_oid

HEADER = "git-batch verify-ahead 1"


class Question(NamedTuple):
    """One signature check of the ops branch, and the refs it was worked out from."""

    git_dir: str  # realpath of the repository's git dir
    refs: tuple[tuple[str, str], ...]  # (full ref name, its value or "" when absent)
    revs: tuple[str, ...]
    max_count: int
    signers: bytes | None  # the allowed-signers file at the base (None: it does not exist)


class _Slot:
    """The check this process started from the file's prediction."""

    ahead: tuple[Question, ops_branch.PendingCheck] | None = None


_slot = _Slot()


def path(common_dir: str) -> str:
    return os.path.join(common_dir, "git-batch", "verify-ahead")


def dumps(q: Question) -> str:
    lines = [HEADER, f"git_dir {q.git_dir}"]
    lines += [f"ref {name} {value or '-'}" for name, value in q.refs]
    lines += [f"rev {rev}" for rev in q.revs]
    lines += [f"max_count {q.max_count}",
              f"signers {'-' if q.signers is None else q.signers.hex()}", ""]
    return "\n".join(lines)


def loads(text: str) -> Question | None:
    """The question in text, or None when it is not exactly what dumps() writes."""
    lines = text.split("\n")
    if len(lines) < 5 or lines[0] != HEADER or lines[-1] != "":
        return None
    fields: dict[str, list[str]] = {}
    for line in lines[1:-1]:
        key, sep, value = line.partition(" ")
        if not sep:
            return None
        fields.setdefault(key, []).append(value)
    try:
        [git_dir], [count], [signers] = fields.pop("git_dir"), fields.pop("max_count"), \
            fields.pop("signers")
        refs = tuple(tuple(r.split(" ")) for r in fields.pop("ref", []))
        revs = tuple(fields.pop("rev"))
        data = None if signers == "-" else bytes.fromhex(signers)
    except (KeyError, ValueError):
        return None
    if fields or not count.isdigit() or any(
            len(r) != 2 or not (is_oid(r[1]) or r[1] == "-") for r in refs) or not all(
            is_oid(rev.removeprefix("^")) for rev in revs):
        return None
    pairs = tuple((name, "" if value == "-" else value) for name, value in refs)
    return Question(git_dir, pairs, revs, int(count), data)


# config.OpsConfig's defaults, for a clone whose file predicts nothing yet (a test keeps them equal)
DEFAULT_BRANCH, DEFAULT_REMOTE = "batch-ops", "origin"
DEFAULT_SIGNERS = ".git-batch/allowed_signers"
WINDOW_CAP = 500  # commits verified in one go (ops_view: a longer gap also checks ancestry)


def trust_question(refs: Mapping[str, str], source: str, tip: str) -> tuple[list[str], int]:
    """(revisions, window) whose signatures decide the trust of tip, read from ref source."""
    seen_src = refs.get(ops_branch.seen_ref(source))
    if seen_src is None or seen_src == tip:
        return [tip], 1
    # Verify every commit since the tip this clone last verified. The same walk tells whether
    # that tip is still an ancestor: then some commit of `tip ^seen` has it as a parent (the
    # child of seen on any path from tip); otherwise the ref was rewritten.
    return [tip, f"^{seen_src}"], WINDOW_CAP


def _guess(dirs: GitDirs, reader: RefReader) -> Question | None:
    """The question a read of the ops branch will ask now: from the file's refs and allowed
    signers when it has some, else from the default names (and one cat-file for the signers)."""
    try:
        with open(path(dirs.common_dir), encoding="utf-8") as fh:
            told = loads(fh.read())
    except (OSError, UnicodeDecodeError):
        told = None
    git_dir = os.path.realpath(dirs.git_dir)
    if told is not None and (told.git_dir != git_dir or len(told.refs) != 4):
        told = None  # another worktree's, or not from ops_view
    if told is not None:
        names = [name for name, _value in told.refs]
    else:
        local = ops_branch.branch_ref(DEFAULT_BRANCH)
        tracking = ops_branch.tracking_ref(DEFAULT_REMOTE, DEFAULT_BRANCH)
        names = [local, tracking, ops_branch.seen_ref(local), ops_branch.seen_ref(tracking)]
    refs = {name: value for name in names if (value := _value(reader, name))}
    local_tip, tracking_tip = refs.get(names[0]), refs.get(names[1])
    # ops_view.choose in the cases that need no ancestry check; the others start nothing
    if tracking_tip is not None and local_tip not in (None, tracking_tip):
        return None
    source = names[1] if tracking_tip is not None else names[0]
    tip = refs.get(source)
    if tip is None:
        return None  # no ops branch (yet): nothing to verify
    if told is not None:
        signers = told.signers
    else:
        base = reader.base("")
        if base is None:
            return None
        [signers] = ops_branch.read_blobs(_where(dirs), [f"{base[1]}:{DEFAULT_SIGNERS}"])
    revs, window = trust_question(refs, source, tip)
    return Question(git_dir, tuple((name, refs.get(name, "")) for name in names), tuple(revs),
                    window, signers)


def _where(dirs: GitDirs) -> Path:
    return Path(dirs.work_tree or dirs.git_dir)


def start(where: str, environ: Mapping[str, str]) -> None:
    """Start the check a read of the ops branch will most likely ask for (best effort)."""
    dirs = discover(where, environ)
    if dirs is None or os.path.exists(os.path.join(dirs.common_dir, "reftable")):
        return
    try:
        q = _guess(dirs, RefReader(dirs))
        if q is None:
            return
        signers = ops_branch.AllowedSigners("", q.signers, frozenset(), frozenset())
        pending = ops_branch.start_check(_where(dirs), signers, q.revs, max_count=q.max_count)
    except (OSError, GitopsError):
        return
    _slot.ahead = (q, pending)


def _value(reader: RefReader, name: str) -> str:
    found = reader.read(name)
    return found[1] if found is not None and found[0] == name else ""


def take(git_dir: Path, revs: Iterable[str], max_count: int, signers: bytes | None
         ) -> ops_branch.PendingCheck | None:
    """The check start() began, if it asks exactly this question; else None (and it is gone)."""
    if _slot.ahead is None:
        return None
    q, pending = _slot.ahead
    _slot.ahead = None
    if (q.git_dir, q.revs, q.max_count, q.signers) == (
            os.path.realpath(git_dir), tuple(revs), max_count, signers):
        return pending
    pending.cancel()
    return None


def discard() -> None:
    """Stop a check nobody took (the gate refused before verifying, or asked otherwise)."""
    if _slot.ahead is not None:
        _slot.ahead[1].cancel()
        _slot.ahead = None


def remember(dirs: GitDirs, q: Question) -> None:
    """Write q as the next prediction, unless the file already says so (best effort)."""
    target = path(dirs.common_dir)
    try:
        with open(target, encoding="utf-8") as fh:
            if loads(fh.read()) == q:
                return
    except (OSError, UnicodeDecodeError):
        pass
    temp = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(temp, "w", encoding="utf-8") as fh:
            fh.write(dumps(q))
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return
