"""A head start for the gate: verify the ops tip while the configuration code is still loading.

Most of `git batch gate` is waiting: about 15 ms importing and parsing the configuration, then
about 18 ms for `git log %G?` and its two ssh-keygen runs. What that verification needs (the
ops tip, the tip this clone verified last, the allowed-signers bytes at the base) is known only
once the configuration is parsed. But it is nearly always what the previous read of the ops
branch could tell. So every read writes what the next one needs to ask it (`remember`): the
names of the ops refs and the allowed-signers bytes, to `<common git dir>/git-batch/verify-ahead`
(without the file, a fresh clone: the default names, and one cat-file for the signers). The gate
reads that first thing (`start`: os and the ref files only), works out the question from the
refs' current values as ops_view would, and starts that verification at once. When the gate
reaches the point of verifying, `take` hands the running check over only if the question it
worked out itself is identical: same repository, same revisions, same window, same
allowed-signers bytes. Otherwise the early check is killed and the gate verifies as usual.

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
from gitops.refs import GitDirs, RefReader, discover

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from gitops.gitcli import StrPath

HEADER = "git-batch verify-ahead 2"


class Hint(NamedTuple):
    """What the file keeps: where a read of the ops branch looks, and who may sign."""

    git_dir: str  # realpath of the repository's git dir
    refs: tuple[str, ...]  # ops_view.Where.refs: local, tracking, and this clone's seen refs
    signers: bytes | None  # the allowed-signers file at the base (None: it does not exist)


Question = tuple[str, tuple[str, ...], int, "bytes | None"]  # git dir, revisions, window, signers


class _Slot:
    """The check this process started early, and the question it answers."""

    ahead: tuple[Question, ops_branch.PendingCheck] | None = None


_slot = _Slot()


def path(common_dir: str) -> str:
    return os.path.join(common_dir, "git-batch", "verify-ahead")


def dumps(hint: Hint) -> str:
    lines = [HEADER, f"git_dir {hint.git_dir}", *(f"ref {name}" for name in hint.refs),
             f"signers {'-' if hint.signers is None else hint.signers.hex()}", ""]
    return "\n".join(lines)


def loads(text: str) -> Hint | None:
    """The hint in text, or None when it is not exactly what dumps() writes."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != HEADER or lines[-1] != "":
        return None
    fields: dict[str, list[str]] = {}
    for line in lines[1:-1]:
        key, sep, value = line.partition(" ")
        if not sep:
            return None
        fields.setdefault(key, []).append(value)
    try:
        [git_dir], [signers] = fields.pop("git_dir"), fields.pop("signers")
        refs = tuple(fields.pop("ref", []))
        data = None if signers == "-" else bytes.fromhex(signers)
    except (KeyError, ValueError):
        return None
    if fields or any(not name.startswith("refs/") or " " in name for name in refs):
        return None
    return Hint(git_dir, refs, data)


def read(dirs: GitDirs) -> Hint | None:
    try:
        with open(path(dirs.common_dir), encoding="utf-8") as fh:
            return loads(fh.read())
    except (OSError, UnicodeDecodeError):
        return None


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
    """The question a read of the ops branch will ask now: from the file's ref names and
    allowed signers when it has them, else from the default names and a cat-file."""
    git_dir = os.path.realpath(dirs.git_dir)
    told = read(dirs)
    if told is not None and (told.git_dir != git_dir or len(told.refs) != 4):
        told = None  # another worktree's, or not from ops_view
    if told is not None:
        names = list(told.refs)
    else:
        local = ops_branch.branch_ref(DEFAULT_BRANCH)
        tracking = ops_branch.tracking_ref(DEFAULT_REMOTE, DEFAULT_BRANCH)
        names = [local, tracking, ops_branch.seen_ref(local), ops_branch.seen_ref(tracking)]
    refs = {name: value for name in names if (value := _value(reader, name))}
    local_tip, tracking_tip = refs.get(names[0]), refs.get(names[1])
    # ops_view.choose in the cases that need no ancestry check; the others start nothing
    if tracking_tip is not None and local_tip not in (None, tracking_tip):
        return None
    tip = tracking_tip or local_tip
    if tip is None:
        return None  # no ops branch (yet): nothing to verify
    if told is not None:
        signers = told.signers
    else:
        base = reader.base("")
        if base is None:
            return None
        [signers] = ops_branch.read_blobs(_where(dirs), [f"{base[1]}:{DEFAULT_SIGNERS}"])
    revs, window = trust_question(refs, names[1] if tracking_tip else names[0], tip)
    return git_dir, tuple(revs), window, signers


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
        signers = ops_branch.AllowedSigners("", q[3], frozenset(), frozenset())
        pending = ops_branch.start_check(_where(dirs), signers, q[1], max_count=q[2])
    except (OSError, GitopsError):
        return
    _slot.ahead = (q, pending)


def _value(reader: RefReader, name: str) -> str:
    found = reader.read(name)
    return found[1] if found is not None and found[0] == name else ""


def take(git_dir: StrPath, revs: Iterable[str], window: int, signers: bytes | None
         ) -> ops_branch.PendingCheck | None:
    """The check start() began, if it asks exactly this question; else None (and it is gone)."""
    if _slot.ahead is None:
        return None
    q, pending = _slot.ahead
    _slot.ahead = None
    if q == (os.path.realpath(git_dir), tuple(revs), window, signers):
        return pending
    pending.cancel()
    return None


def discard() -> None:
    """Stop a check nobody took (the gate refused before verifying, or asked otherwise)."""
    if _slot.ahead is not None:
        _slot.ahead[1].cancel()
        _slot.ahead = None


def remember(dirs: GitDirs, hint: Hint) -> None:
    """Write hint for the next read, unless the file already says so (best effort)."""
    if read(dirs) == hint:
        return
    target = path(dirs.common_dir)
    temp = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(temp, "w", encoding="utf-8") as fh:
            fh.write(dumps(hint))
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
