"""Pure: batch membership records -> batch reports and summaries (no git, no clock).

Both lookup paths feed this module: the history index (history.index) and the direct scan of
`git log` output (history.scan). Keeping the aggregation here means the two paths cannot
disagree about what a batch added, which files are outside scope, or whether it was reverted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

# Trailer keys this tool writes and reads besides the configured batch key; defined only here.
REVERTS_BATCH = "Reverts-Batch"
REVERTS_COMMIT = "Reverts-Commit"
REAPPLIES_BATCH = "Reapplies-Batch"

# How a commit was found to belong to a batch (DESIGN.md "Words").
SOURCE_TRAILER = "trailer"
SOURCE_LEGACY = "legacy"
SOURCE_PULL = "pull-request"
SOURCE_LEDGER = "ledger"  # recorded on the ops branch with `git batch land`
SOURCE_ID_FILE = "id-file"  # a file the commit adds names the batch (batch.id_files)
SOURCE_CONTENT = "content"  # its files are versions a batch commit or its ref carry
SOURCES = (SOURCE_TRAILER, SOURCE_LEGACY, SOURCE_ID_FILE, SOURCE_PULL, SOURCE_CONTENT,
           SOURCE_LEDGER)

PULL_SUBJECT = re.compile(r"\(#(\d+)\)\s*$")


class CommitInfo(NamedTuple):
    oid: str
    parents: tuple[str, ...]
    author: str
    email: str
    time: int  # author time, seconds since the epoch (UTC)
    subject: str

    @property
    def short(self) -> str:
        return self.oid[:10]


# One side of a change as `git diff --raw` shows it: (blob id, mode); mode 0 when the path is
# absent on that side. A submodule (160000) is a commit id, not a blob.
RawSide = tuple[str, int]
Entry = tuple[str, int]  # (blob id, file mode) of a file in a tree


class Change(NamedTuple):
    status: str  # A, M, D or T against the first parent
    path: str
    # `git log --raw` metadata, ":<old mode> <new mode> <old id> <new id> <status>", kept
    # undecoded (only the index writer reads it); None when the producer did not read it (the
    # index's member lists leave it out: Index.sides() answers for the few that matter).
    raw: bytes | None = None


def blob_entry(side: RawSide) -> Entry | None:
    """The file entry a raw diff side stands for, None when there is no file: absent (mode 0),
    a submodule (160000) or a directory, as `Repo.entries` reads a tree."""
    oid, mode = side
    if mode & 0o170000 not in (0o100000, 0o120000):  # regular files and symlinks are blobs
        return None
    return oid, mode


class Member(NamedTuple):
    commit: CommitInfo
    seq: int  # position in the base branch's topological order, larger is newer
    source: str
    detail: str  # the key as written, "#N" for a pull request, the ref or commit matched
    changes: tuple[Change, ...]  # the batch's changes: for a landing, the files it brought
    alongside: tuple[Change, ...] = ()  # a landing's other changes: never the batch's


class Event(NamedTuple):
    kind: str  # "revert" or "reapply"
    commit: CommitInfo
    seq: int
    paths: tuple[str, ...]


class LaterEdit(NamedTuple):
    path: str
    commit: CommitInfo
    seq: int = 0  # position on the base branch (0 when found without the index)


class FileSets(NamedTuple):
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(sorted((*self.added, *self.modified, *self.deleted)))


class BatchReport(NamedTuple):
    batch_id: str
    members: tuple[Member, ...]
    files: FileSets
    outside: tuple[str, ...]
    later_edits: tuple[LaterEdit, ...]
    events: tuple[Event, ...]
    ecosystems: tuple[str, ...]
    state: str
    # False when later edits were not looked up (cold path, long range): then changed_since
    # lists the managed files whose version at the base differs from the batch's.
    later_complete: bool = True
    changed_since: tuple[str, ...] = ()
    # landings: files of the batch's off-base commits that no base commit brought, files a
    # landing brought that as well match another batch (path, commit, every batch matching),
    # and the in-flight refs that carry the batch's commits
    unlanded: tuple[str, ...] = ()
    ambiguous: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    carriers: tuple[str, ...] = ()


class BatchSummary(NamedTuple):
    batch_id: str
    first_time: int
    last_time: int
    commits: int
    managed_files: int
    ecosystems: tuple[str, ...]
    state: str
    sources: tuple[str, ...] = ()


def classify(path_changes: Iterable[str]) -> str | None:
    """Net effect of a batch on one path from its statuses in order: added/modified/deleted."""
    statuses = list(path_changes)
    if not statuses:
        return None
    first, last = statuses[0], statuses[-1]
    if first == "A":
        return None if last == "D" else "added"
    if last == "D":
        return "deleted"
    return "modified"


def net_files(members: Iterable[Member], is_managed: Callable[[str], bool]
              ) -> tuple[FileSets, tuple[str, ...]]:
    """Managed files the batch added / modified / deleted, and the paths outside scope."""
    by_path: dict[str, list[str]] = {}
    outside: set[str] = set()
    for member in sorted(members, key=lambda m: m.seq):
        for change in member.changes:
            if is_managed(change.path):
                by_path.setdefault(change.path, []).append(change.status)
            else:
                outside.add(change.path)
    sets: dict[str, list[str]] = {"added": [], "modified": [], "deleted": []}
    for path in sorted(by_path):
        kind = classify(by_path[path])
        if kind:
            sets[kind].append(path)
    files = FileSets(tuple(sets["added"]), tuple(sets["modified"]), tuple(sets["deleted"]))
    return files, tuple(sorted(outside))


def touched_managed(members: Iterable[Member], is_managed: Callable[[str], bool]) -> set[str]:
    return {c.path for m in members for c in m.changes if is_managed(c.path)}


def batch_state(events: Iterable[Event], batch_paths: set[str]) -> str:
    """merged, reverted, partly-reverted or reapplied, from revert/reapply commits in order."""
    covered: set[str] = set()
    state = "merged"
    for event in sorted(events, key=lambda e: e.seq):
        if event.kind == "reapply":
            covered.clear()
            state = "reapplied"
        else:
            covered.update(event.paths)
            state = "reverted" if batch_paths <= covered else "partly-reverted"
    return state


def build_report(
    batch_id: str,
    *,
    members: Iterable[Member],
    events: Iterable[Event],
    later_edits: Iterable[LaterEdit],
    ecosystems: Iterable[str],
    is_managed: Callable[[str], bool],
) -> BatchReport:
    """Everything `show` says about one batch."""
    ordered = tuple(sorted(members, key=lambda m: m.seq))
    files, outside = net_files(ordered, is_managed)
    evs = tuple(sorted(events, key=lambda e: e.seq))
    member_oids = {m.commit.oid for m in ordered}
    later = tuple(
        sorted(
            {e for e in later_edits if e.commit.oid not in member_oids},
            key=lambda e: (e.path, e.commit.time, e.commit.oid),
        )
    )
    return BatchReport(
        batch_id=batch_id,
        members=ordered,
        files=files,
        outside=outside,
        later_edits=later,
        events=evs,
        ecosystems=tuple(sorted(set(ecosystems))),
        state=batch_state(evs, touched_managed(ordered, is_managed)),
    )


def nearest_ids(wanted: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known ids closest to wanted, for 'unknown batch id' messages."""
    return difflib.get_close_matches(wanted, list(known), n=limit, cutoff=0.5)
