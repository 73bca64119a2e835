"""Pure: the surgical revert's rules, one file at a time (DESIGN.md "Surgical revert: the rules").

For each managed path p the batch touched: `pre` = p before the batch's first touch, `post` = p
after its last touch, `head` = p at the target. The revert is a three-way merge of head with
base post and other side pre, file by file: head == post takes pre; head == pre is already
reverted; anything else was edited by someone else and is refused, skipped, merged or discarded
as --on-conflict says (docs/revert.md). A reapply is the same rules run over the batch's revert
commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from gitops.history.report import (
    REAPPLIES_BATCH,
    REVERTS_BATCH,
    REVERTS_COMMIT,
    CommitInfo,
    LaterEdit,
)

Entry = tuple[str, int]  # (blob id, file mode)
OnConflict = Literal["fail", "skip", "merge", "discard"]
ON_CONFLICT: tuple[OnConflict, ...] = ("fail", "skip", "merge", "discard")

# What happens to one file. The first four change the tree; the others leave the file alone.
DELETE = "delete"  # the batch added it
RESTORE = "restore"  # the batch modified it: back to the previous version
RECREATE = "re-create"  # the batch deleted it
MERGED = "merged"  # edited later, but the three-way merge was clean (--on-conflict merge)
ALREADY = "already-reverted"
EDITED = "edited-later"  # skipped (--on-conflict skip)
PROTECTED = "protected"
CONFLICT = "conflict"  # stops the revert
AMBIGUOUS = "ambiguous"  # landed by content another batch offered too: stops the revert
EXCLUDED = "not-selected"  # left out by --only
CHANGING = frozenset({DELETE, RESTORE, RECREATE, MERGED})
BLOCKING = frozenset({CONFLICT, AMBIGUOUS})


class FileState(NamedTuple):
    """Everything the plan needs to know about one managed path."""

    path: str
    pre: Entry | None
    post: Entry | None
    head: Entry | None
    later: tuple[LaterEdit, ...] = ()  # commits outside the batch after its first touch of path
    interleaved: bool = False  # one of them came between the batch's first and last touch
    protected: bool = False  # the version at head carries the protected marker
    mechanical: bool = False  # every later edit is by a mechanical commit (Policy.mechanical)
    ambiguous: tuple[str, ...] = ()  # the other batches whose offers the landing matched too


class FilePlan(NamedTuple):
    path: str
    outcome: str
    new: Entry | None  # the entry after the revert (meaningful when outcome changes the tree)
    reason: str
    later: tuple[LaterEdit, ...] = ()

    @property
    def changes_tree(self) -> bool:
        return self.outcome in CHANGING

    @property
    def discards(self) -> bool:
        """The revert overwrites later edits of this file (--on-conflict discard, or edits
        that were all mechanical)."""
        return self.outcome in CHANGING and self.outcome != MERGED and bool(self.later)


class Policy(NamedTuple):
    """What the operator chose for files that are not simply the batch's version at head."""

    on_conflict: OnConflict = "fail"
    include_ambiguous: bool = False  # take back files another batch may have brought instead


MergeFn = Callable[[str, Entry, Entry, Entry], "Entry | None"]


class _Words(NamedTuple):
    """How a plan names what it takes back: a revert takes back the batch; a reapply takes
    back the revert (its FileState pre/post are the sides of the revert commits)."""

    subject: str
    added: str
    deleted: str
    modified: str


_WORDS = {
    "revert": _Words("the batch", "added by the batch", "deleted by the batch",
                     "modified by the batch"),
    "reapply": _Words("the revert", "re-created by the revert", "removed by the revert",
                      "restored by the revert"),
}


def _take_pre(state: FileState, words: _Words) -> FilePlan:
    if state.pre is None:
        return FilePlan(state.path, DELETE, None, words.added)
    if state.post is None:
        return FilePlan(state.path, RECREATE, state.pre, words.deleted)
    return FilePlan(state.path, RESTORE, state.pre, words.modified)


def _describe(later: Iterable[LaterEdit]) -> str:
    seen: dict[str, LaterEdit] = {}
    for e in later:
        seen.setdefault(e.commit.oid, e)
    return ", ".join(f"{e.commit.short} by {e.commit.author} on {_day(e.commit.time)}"
                     for e in seen.values())


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def plan_file(state: FileState, policy: Policy, merge: MergeFn,
              kind: Literal["revert", "reapply"] = "revert") -> FilePlan:
    """The outcome for one file (DESIGN.md "Surgical revert", rule 2; docs/revert.md)."""
    words = _WORDS[kind]
    what = words.subject
    if state.head == state.pre:
        why = (f"added and deleted inside {what}" if state.pre is None and state.post is None
               else f"already as before {what}")
        return FilePlan(state.path, ALREADY, state.head, why)
    if state.protected:
        return FilePlan(state.path, PROTECTED, state.head,
                        f"protected: adopted by people after {what}", state.later)
    if state.ambiguous and not policy.include_ambiguous:
        return FilePlan(state.path, AMBIGUOUS, state.head,
                        "landed with content that batch " + " and ".join(state.ambiguous)
                        + " offered too; --include-ambiguous takes it back as this batch's",
                        state.later)
    if state.head == state.post and not state.interleaved:
        return _take_pre(state, words)
    who = _describe(state.later) or "an unknown commit"
    reason = f"edited after {what} by {who}"
    if state.interleaved and state.head == state.post:
        reason = f"edited between {what}'s commits by {who}"
    taken = _take_pre(state, words)
    if policy.on_conflict == "discard":
        return taken._replace(reason=f"{taken.reason}; discards the edits by {who}",
                              later=state.later)
    if policy.on_conflict == "merge" and state.mechanical and state.pre is None:
        return taken._replace(reason=f"{taken.reason}; later edits only mechanical ({who})",
                              later=state.later)
    if policy.on_conflict == "skip":
        return FilePlan(state.path, EDITED, state.head, reason, state.later)
    if policy.on_conflict == "merge" and None not in (state.pre, state.post, state.head):
        assert state.pre is not None and state.post is not None and state.head is not None
        merged = merge(state.path, state.post, state.head, state.pre)
        if merged is not None:
            return FilePlan(state.path, MERGED, merged, f"{reason}; merged cleanly", state.later)
        reason += "; the three-way merge conflicts"
    elif policy.on_conflict == "merge":
        reason += "; added or deleted on one side (modify/delete)"
    return FilePlan(state.path, CONFLICT, state.head, reason, state.later)


def plan_files(states: Iterable[FileState], policy: Policy, merge: MergeFn,
               kind: Literal["revert", "reapply"] = "revert") -> tuple[FilePlan, ...]:
    return tuple(plan_file(s, policy, merge, kind)
                 for s in sorted(states, key=lambda s: s.path))


class Breakage(NamedTuple):
    dependent: str  # path of the recipe that would break
    dependent_name: str
    missing: str  # the name it needs that the revert removes


class LaterCommit(NamedTuple):
    """A commit that edited some of the batch's files after it, with its breadth: how many
    managed files it changed in all (a migration touching hundreds is mechanical)."""

    commit: CommitInfo
    breadth: int
    mechanical: bool
    paths: tuple[str, ...]  # the batch's files it edited


def later_commits(files: Iterable[FilePlan], breadth: dict[str, int], threshold: int
                  ) -> tuple[LaterCommit, ...]:
    """The later edits of files grouped by commit, oldest first."""
    by_commit: dict[str, tuple[LaterEdit, list[str]]] = {}
    for f in files:
        for e in f.later:
            by_commit.setdefault(e.commit.oid, (e, []))[1].append(f.path)
    ordered = sorted(by_commit.values(), key=lambda item: (item[0].seq, item[0].commit.time))
    return tuple(LaterCommit(e.commit, breadth.get(e.commit.oid, len(paths)),
                             breadth.get(e.commit.oid, len(paths)) > threshold,
                             tuple(sorted(set(paths))))
                 for e, paths in ordered)


class RevertPlan(NamedTuple):
    batch_id: str
    kind: Literal["revert", "reapply"]
    target_ref: str
    target: str  # commit id the revert commit will have as parent
    commits: tuple[str, ...]  # the commits being taken back (batch or revert commits)
    files: tuple[FilePlan, ...]
    outside: tuple[str, ...]  # touched outside managed paths: left alone
    with_dependents: tuple[str, ...] = ()  # paths --with-dependents added to --only
    broken: tuple[Breakage, ...] = ()
    unreadable: tuple[tuple[str, int | None, str], ...] = ()  # (path, line, message)
    later: tuple[LaterCommit, ...] = ()  # the later edits of the batch's files, by commit

    @property
    def changing(self) -> tuple[FilePlan, ...]:
        return tuple(f for f in self.files if f.changes_tree)

    @property
    def conflicts(self) -> tuple[FilePlan, ...]:
        return tuple(f for f in self.files if f.outcome == CONFLICT)

    @property
    def ambiguous(self) -> tuple[FilePlan, ...]:
        return tuple(f for f in self.files if f.outcome == AMBIGUOUS)

    @property
    def nothing_to_do(self) -> bool:
        return not self.changing and not any(f.outcome in BLOCKING for f in self.files)


def commit_message(plan: RevertPlan) -> str:
    """`Revert batch ID` (or `Reapply batch ID`), a body listing every file, and trailers."""
    verb = "Revert" if plan.kind == "revert" else "Reapply"
    lines = [f"{verb} batch {plan.batch_id}", ""]
    groups = (
        ("Removed (added by the batch):", DELETE),
        ("Restored to the version before the batch:", RESTORE),
        ("Re-created (deleted by the batch):", RECREATE),
        ("Merged with later edits:", MERGED),
    )
    if plan.kind == "reapply":
        groups = (
            ("Removed again (the revert re-created it):", DELETE),
            ("Back to the batch's version:", RESTORE),
            ("Re-created (the revert removed it):", RECREATE),
            ("Merged with later edits:", MERGED),
        )
    for title, outcome in groups:
        paths = [f.path for f in plan.files if f.outcome == outcome]
        if paths:
            lines += [title, *(f"  {p}" for p in paths), ""]
    skipped = [f for f in plan.files if not f.changes_tree]
    if skipped:
        lines += ["Skipped:", *(f"  {f.path}: {f.reason}" for f in skipped), ""]
    discarded = {f.path for f in plan.files if f.discards}
    overwritten = [(c, [p for p in c.paths if p in discarded]) for c in plan.later]
    if discarded:
        lines.append("Later edits discarded:")
        for c, paths in overwritten:
            if paths:
                lines.append(f"  {c.commit.short} by {c.commit.author} <{c.commit.email}> on "
                             f"{_day(c.commit.time)} ({_breadth(c)}):")
                lines += [f"    {p}" for p in paths]
        lines.append("")
    if plan.outside:
        lines += ["Left alone (outside the managed paths):", *(f"  {p}" for p in plan.outside),
                  ""]
    if plan.kind == "revert":
        lines.append(f"{REVERTS_BATCH}: {plan.batch_id}")
    else:
        lines.append(f"{REAPPLIES_BATCH}: {plan.batch_id}")
    lines += [f"{REVERTS_COMMIT}: {c}" for c in plan.commits]
    return "\n".join(lines) + "\n"


def _breadth(c: LaterCommit) -> str:
    files = "file" if c.breadth == 1 else "files"
    return f"touched {c.breadth} managed {files}" + (", mechanical" if c.mechanical else "")


def describe_later(c: LaterCommit) -> str:
    """One line about a later commit: id, author, day, breadth, subject."""
    return (f"{c.commit.short} {_day(c.commit.time)} {c.commit.author}: {_breadth(c)}, "
            f"{len(c.paths)} of this batch's; {c.commit.subject}")


def tree_edits(plan: RevertPlan) -> dict[str, Entry | None]:
    return {f.path: f.new for f in plan.changing}
