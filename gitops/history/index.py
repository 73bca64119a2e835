"""Persistent history index: batch id -> commits, each with its changed paths and source.

The index is a sqlite file under the repository's common git dir, one per base ref. It is a
cache: it is rebuilt whenever it is missing, foreign, corrupt, built with other membership
settings, or when the base branch was rewritten (the stored tip is no longer an ancestor).
Answering from it needs sqlite only; git is asked only what changed since it was written.
Writers: a full build writes a temp file and os.replace()s it; an incremental update runs in one
`BEGIN IMMEDIATE` transaction and re-checks the stored tip after taking the lock, so concurrent
runs never corrupt it and never apply the same commits twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from binascii import unhexlify
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from gitops import recipes
from gitops.config import Config
from gitops.errors import GitopsError, IndexUnavailable
from gitops.git import plumbing, process
from gitops.git.process import StrPath
from gitops.git.repository import RepoInfo
from gitops.history import landings, log, offbase
from gitops.history.log import Classifier, Record
from gitops.history.report import (
    SOURCE_CONTENT,
    SOURCE_ID_FILE,
    SOURCE_LEDGER,
    SOURCE_LEGACY,
    SOURCE_PULL,
    SOURCE_TRAILER,
    BatchReport,
    BatchSummary,
    Change,
    CommitInfo,
    Entry,
    Event,
    LaterEdit,
    Member,
    batch_state,
    blob_entry,
    build_report,
    net_files,
    touched_managed,
)
from gitops.ops import trust

# 6: changes keep both sides (mode and blob id) of each change, from `git log --raw`, keyed by
#    commit (a build appends rows in commit order; by path is the secondary index); recipes
#    keep the protected marker and the names each provides (a JSON list).
# 7: the recipe tables describe meta recipes_tip, which an incremental update leaves behind
#    (refresh_recipes brings it to the tip); a version-6 reader would take them for the tip's.
# 8: landings by content (history.landings): the offers of off-base batch commits, the files
#    each content or pull request member owns (member_paths), ambiguous files; commits keep
#    their committer time; freshness covers every in-flight ref, not only pull requests.
SCHEMA_VERSION = "8"
APPLICATION_ID = 0x47425431  # "GBT1"
TOOL = "git-batch history index"

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE commits(seq INTEGER PRIMARY KEY, oid TEXT NOT NULL, parents TEXT NOT NULL,
                     author TEXT NOT NULL, email TEXT NOT NULL, time INTEGER NOT NULL,
                     subject TEXT NOT NULL, ctime INTEGER NOT NULL);
CREATE TABLE paths(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE changes(seq INTEGER NOT NULL, path_id INTEGER NOT NULL, status TEXT NOT NULL,
                     old_mode INTEGER NOT NULL, old_oid BLOB, new_mode INTEGER NOT NULL,
                     new_oid BLOB, PRIMARY KEY(seq, path_id)) WITHOUT ROWID;
CREATE TABLE marks(batch_id TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
                   source TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE pulls(seq INTEGER NOT NULL, number INTEGER NOT NULL);
CREATE TABLE offers(id INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, via TEXT NOT NULL,
                    since INTEGER NOT NULL, pull INTEGER);
CREATE TABLE offer_files(offer_id INTEGER NOT NULL, path_id INTEGER NOT NULL, blob BLOB);
CREATE TABLE offbase(batch_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);
CREATE TABLE member_paths(batch_id TEXT NOT NULL, seq INTEGER NOT NULL, path_id INTEGER NOT NULL);
CREATE TABLE ambiguous(seq INTEGER NOT NULL, path_id INTEGER NOT NULL, batch_ids TEXT NOT NULL);
CREATE TABLE ledger(batch_id TEXT NOT NULL, oid TEXT NOT NULL);
CREATE TABLE recipes(path TEXT PRIMARY KEY, ok INTEGER NOT NULL, protected INTEGER NOT NULL,
                     provides TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE recipe_names(name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL);
"""
# Secondary indexes are created after the bulk insert of a full build (much faster).
INDEXES = """
CREATE INDEX IF NOT EXISTS changes_path ON changes(path_id, seq);
CREATE INDEX IF NOT EXISTS marks_batch ON marks(batch_id, kind);
CREATE INDEX IF NOT EXISTS pulls_number ON pulls(number);
CREATE INDEX IF NOT EXISTS offer_files_blob ON offer_files(path_id, blob);
CREATE INDEX IF NOT EXISTS member_paths_batch ON member_paths(batch_id, seq);
CREATE INDEX IF NOT EXISTS commits_oid ON commits(oid);
CREATE INDEX IF NOT EXISTS recipe_names_name ON recipe_names(name, kind);
CREATE INDEX IF NOT EXISTS recipe_names_path ON recipe_names(path);
CREATE INDEX IF NOT EXISTS recipes_bad ON recipes(path) WHERE ok = 0;
"""


def index_path(common_dir: StrPath, base_ref: str) -> Path:
    """The history index of base_ref, one file per base ref under the common git dir."""
    digest = hashlib.sha256(base_ref.encode()).hexdigest()[:12]
    return Path(common_dir, "git-batch", f"index-{digest}.sqlite")


class Freshness(NamedTuple):
    """What the index must have been built from to answer without touching git."""

    fingerprint: str
    base_ref: str
    tip: str
    refs: str  # canonical JSON of the in-flight refs {name: oid}: what the landings come from
    ledger: str = ""  # the ops branch refs' values: landings recorded with `git batch land`


class RecipeFacts(NamedTuple):
    """A recipe at the indexed tip as recipes.parse_recipe saw it."""

    ok: bool  # False: its TOML or a configured field is malformed
    provides: frozenset[str]  # its name and aliases
    protected: bool  # carries the protected marker


def refs_json(refs: dict[str, str]) -> str:
    return json.dumps(refs, sort_keys=True, separators=(",", ":"))


class Index:
    """A validated, open index; queries only (writers are the module functions below)."""

    def __init__(self, conn: sqlite3.Connection, path: StrPath) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: StrPath) -> Index | None:
        """The index at path if it exists and is ours with this schema; None otherwise."""
        if not os.path.isfile(path):
            return None
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            (app_id,) = conn.execute("PRAGMA application_id").fetchone()
            if app_id != APPLICATION_ID:
                conn.close()
                return None
            idx = cls(conn, path)
            if idx.meta("tool") != TOOL or idx.meta("schema_version") != SCHEMA_VERSION:
                conn.close()
                return None
            return idx
        except sqlite3.DatabaseError:
            return None

    @staticmethod
    def stored_schema(path: Path) -> str | None:
        """The schema version of the index at path, if it is one of ours (any version)."""
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        except sqlite3.DatabaseError:
            return None
        try:
            (app_id,) = conn.execute("PRAGMA application_id").fetchone()
            rows = dict(conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('tool', 'schema_version')"))
        except sqlite3.DatabaseError:
            return None
        finally:
            conn.close()
        if app_id != APPLICATION_ID or rows.get("tool") != TOOL:
            return None
        return rows.get("schema_version")

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def recipes_tip(self) -> str | None:
        """The commit the recipe tables describe: the indexed tip once refresh_recipes() has
        run since the last incremental update."""
        return self.meta("recipes_tip")

    def is_fresh(self, want: Freshness) -> bool:
        return (
            self.meta("fingerprint") == want.fingerprint
            and self.meta("base_ref") == want.base_ref
            and self.meta("tip") == want.tip
            and self.meta("refs") == want.refs
            and (self.meta("ledger") or "") == want.ledger
        )

    # -- queries ---------------------------------------------------------------------------

    def batch_ids(self) -> list[str]:
        rows = self.conn.execute("SELECT DISTINCT batch_id FROM marks WHERE kind = 'member'")
        return sorted(r[0] for r in rows)

    def _infos(self, seqs: Iterable[int]) -> dict[int, CommitInfo]:
        out: dict[int, CommitInfo] = {}
        for chunk in _chunks(sorted(set(seqs))):
            marks = ",".join("?" * len(chunk))
            for seq, oid, parents, author, email, time, subject in self.conn.execute(
                f"SELECT seq, oid, parents, author, email, time, subject FROM commits "  # noqa: S608
                f"WHERE seq IN ({marks})", chunk,
            ):
                out[seq] = CommitInfo(oid, tuple(parents.split()), author, email, time, subject)
        return out

    def _changes(self, seqs: Iterable[int]) -> dict[int, list[Change]]:
        out: dict[int, list[Change]] = {}
        for chunk in _chunks(sorted(set(seqs))):
            marks = ",".join("?" * len(chunk))
            for seq, status, path in self.conn.execute(
                f"SELECT c.seq, c.status, p.path FROM changes c JOIN paths p ON p.id = c.path_id "  # noqa: S608
                f"WHERE c.seq IN ({marks}) ORDER BY p.path", chunk,
            ):
                out.setdefault(seq, []).append(Change(status, path))
        return out

    def _marks(self, batch_id: str | None) -> list[tuple[str, str, int, str, str]]:
        if batch_id is None:
            return list(self.conn.execute("SELECT batch_id, kind, seq, source, detail FROM marks"))
        return list(self.conn.execute(
            "SELECT batch_id, kind, seq, source, detail FROM marks WHERE batch_id = ?",
            (batch_id,)))

    def _assemble(self, rows: list[tuple[str, str, int, str, str]]
                  ) -> dict[str, tuple[list[Member], list[Event], list[str]]]:
        seqs = [r[2] for r in rows if r[1] != "ecosystem"]
        infos = self._infos(seqs)
        changes = self._changes(seqs)
        out: dict[str, tuple[list[Member], list[Event], list[str]]] = {}
        owned = self._member_paths({r[0] for r in rows if r[3] in (SOURCE_CONTENT, SOURCE_PULL)})
        for batch_id, kind, seq, source, detail in rows:
            members, events, ecos = out.setdefault(batch_id, ([], [], []))
            if kind == "member":
                all_changes = tuple(changes.get(seq, ()))
                if source in (SOURCE_CONTENT, SOURCE_PULL):
                    mine = owned.get((batch_id, seq), set())
                    members.append(Member(
                        infos[seq], seq, source, detail,
                        tuple(c for c in all_changes if c.path in mine),
                        tuple(c for c in all_changes if c.path not in mine)))
                else:
                    members.append(Member(infos[seq], seq, source, detail, all_changes))
            elif kind in ("revert", "reapply"):
                paths = tuple(c.path for c in changes.get(seq, ()))
                events.append(Event(kind, infos[seq], seq, paths))
            elif kind == "ecosystem":
                ecos.append(detail)
        return out

    def _member_paths(self, batch_ids: Iterable[str]) -> dict[tuple[str, int], set[str]]:
        """(batch, seq) -> the files that landing brought for the batch."""
        out: dict[tuple[str, int], set[str]] = {}
        for chunk in _chunks(sorted(set(batch_ids))):
            marks = ",".join("?" * len(chunk))
            for batch_id, seq, path in self.conn.execute(
                f"SELECT m.batch_id, m.seq, p.path FROM member_paths m JOIN paths p "  # noqa: S608
                f"ON p.id = m.path_id WHERE m.batch_id IN ({marks})", chunk,
            ):
                out.setdefault((batch_id, seq), set()).add(path)
        return out

    def landing_facts(self, batch_id: str
                      ) -> tuple[tuple[str, ...], tuple[tuple[str, str, tuple[str, ...]], ...],
                                 tuple[str, ...]]:
        """(unlanded files, ambiguous files as (path, commit, batches), carrying refs)."""
        offered = {p for (p,) in self.conn.execute(
            "SELECT DISTINCT p.path FROM offers o JOIN offer_files f ON f.offer_id = o.id "
            "JOIN paths p ON p.id = f.path_id WHERE o.batch_id = ?", (batch_id,))}
        landed = {p for paths in self._member_paths([batch_id]).values() for p in paths}
        marks = ",".join("?" * len(EXPLICIT))
        landed.update(p for (p,) in self.conn.execute(
            f"SELECT p.path FROM marks m JOIN changes c ON c.seq = m.seq JOIN paths p "  # noqa: S608
            f"ON p.id = c.path_id WHERE m.batch_id = ? AND m.kind = 'member' "
            f"AND m.source IN ({marks})", (batch_id, *EXPLICIT)))
        ambiguous = tuple(sorted(
            (path, oid, tuple(ids.split()))
            for path, oid, ids in self.conn.execute(
                "SELECT p.path, c.oid, a.batch_ids FROM ambiguous a JOIN paths p ON "
                "p.id = a.path_id JOIN commits c ON c.seq = a.seq")
            if batch_id in ids.split()))
        carriers = tuple(sorted(r for (r,) in self.conn.execute(
            "SELECT value FROM offbase WHERE batch_id = ? AND kind = 'ref'", (batch_id,))))
        return (tuple(sorted(offered - landed - {a[0] for a in ambiguous})), ambiguous,
                carriers)

    def report(self, batch_id: str, is_managed: Callable[[str], bool], *,
               later_edits: bool = True) -> BatchReport | None:
        """Everything `show` needs, from the index alone (later_edits False: without looking
        up the later edits, for callers that query them their own way)."""
        assembled = self._assemble(self._marks(batch_id)).get(batch_id)
        if not assembled or not assembled[0]:
            return None
        members, events, ecos = assembled
        first = min(m.seq for m in members)
        later = (self.touches(sorted(touched_managed(members, is_managed)), first)
                 if later_edits else [])
        unlanded, ambiguous, carriers = self.landing_facts(batch_id)
        return build_report(batch_id, members=members, events=events, later_edits=later,
                            ecosystems=ecos, is_managed=is_managed)._replace(
            unlanded=unlanded, ambiguous=ambiguous, carriers=carriers)

    def touches(self, paths: list[str], after_seq: int) -> list[LaterEdit]:
        """Non-merge commits after after_seq that changed any of paths, one row per path."""
        rows: list[tuple[str, int]] = []
        for chunk in _chunks(paths):
            marks = ",".join("?" * len(chunk))
            rows += self.conn.execute(
                f"SELECT p.path, c.seq FROM changes c JOIN paths p ON p.id = c.path_id "  # noqa: S608
                f"WHERE p.path IN ({marks}) AND c.seq > ?", (*chunk, after_seq),
            ).fetchall()
        infos = self._infos(seq for _p, seq in rows)
        # A merge that takes a path unchanged from a side branch is not an edit (TREESAME); the
        # side branch's own commits are recorded and reported instead.
        return [LaterEdit(path, infos[seq], seq) for path, seq in rows
                if len(infos[seq].parents) < 2]

    def sides(self, wanted: Iterable[tuple[str, int]]
              ) -> dict[tuple[str, int], tuple[Entry | None, Entry | None]]:
        """(path, seq) -> the file entries before and after that commit's change of path (its
        first-parent diff), as `Repo.entries` would read them from the two trees; pairs the
        index holds no change for are left out."""
        want = set(wanted)
        out: dict[tuple[str, int], tuple[Entry | None, Entry | None]] = {}
        for chunk in _chunks(sorted({seq for _path, seq in want})):
            marks = ",".join("?" * len(chunk))
            for path, seq, old_mode, old_oid, new_mode, new_oid in self.conn.execute(
                f"SELECT p.path, c.seq, c.old_mode, c.old_oid, c.new_mode, c.new_oid "  # noqa: S608
                f"FROM changes c JOIN paths p ON p.id = c.path_id WHERE c.seq IN ({marks})",
                chunk,
            ):
                if (path, seq) in want:
                    out[path, seq] = (
                        blob_entry((old_oid.hex(), old_mode)) if old_oid else None,
                        blob_entry((new_oid.hex(), new_mode)) if new_oid else None,
                    )
        return out

    def seqs(self, oids: Iterable[str]) -> dict[str, int]:
        """oid -> its position on the base, for those of oids in the base's history."""
        out: dict[str, int] = {}
        for chunk in _chunks(sorted(set(oids))):
            marks = ",".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT oid, seq FROM commits WHERE oid IN ({marks})", chunk))  # noqa: S608
        return out

    def breadth(self, seqs: Iterable[int], is_managed: Callable[[str], bool]) -> dict[int, int]:
        """seq -> how many managed files that commit changed."""
        out: dict[int, int] = {}
        for chunk in _chunks(sorted(set(seqs))):
            marks = ",".join("?" * len(chunk))
            for seq, path in self.conn.execute(
                f"SELECT c.seq, p.path FROM changes c JOIN paths p ON p.id = c.path_id "  # noqa: S608
                f"WHERE c.seq IN ({marks})", chunk,
            ):
                out[seq] = out.get(seq, 0) + is_managed(path)
        return out

    def brought(self, wanted: Mapping[str, str | None], after_seq: int) -> set[str]:
        """The paths of wanted (path -> blob, None: deleted) that a first-parent commit of the
        base after after_seq brought to that blob (or deleted): content that landed."""
        out: set[str] = set()
        for chunk in _chunks(sorted(wanted)):
            marks = ",".join("?" * len(chunk))
            for path, new_oid in self.conn.execute(
                f"SELECT p.path, c.new_oid FROM changes c JOIN paths p ON p.id = c.path_id "  # noqa: S608
                f"WHERE p.path IN ({marks}) AND c.seq > ?", (*chunk, after_seq),
            ):
                blob = wanted[path]
                if (new_oid.hex() if new_oid else None) == blob:
                    out.add(path)
        return out

    def has_commit(self, oid: str) -> bool:
        """Whether oid is in the base's history (the index holds every commit of the tip)."""
        row = self.conn.execute("SELECT 1 FROM commits WHERE oid = ?", (oid,)).fetchone()
        return row is not None

    def pull_numbers(self) -> set[int]:
        """Pull request numbers named by a `(#N)` subject on the base."""
        return {int(n) for (n,) in self.conn.execute("SELECT DISTINCT number FROM pulls")}

    def recipes_at_tip(self, names: set[str]
                       ) -> tuple[set[str], dict[str, set[str]], set[str]]:
        """Among the recipes at the indexed tip: paths depending on any of names, name -> paths
        providing it (name or alias), and the paths whose TOML does not parse."""
        depends: set[str] = set()
        provides: dict[str, set[str]] = {}
        for chunk in _chunks(sorted(names)):
            marks = ",".join("?" * len(chunk))
            for name, path, kind in self.conn.execute(
                f"SELECT name, path, kind FROM recipe_names WHERE name IN ({marks})",  # noqa: S608
                chunk,
            ):
                if kind == "depends":
                    depends.add(path)
                else:
                    provides.setdefault(name, set()).add(path)
        bad = {p for (p,) in self.conn.execute("SELECT path FROM recipes WHERE ok = 0")}
        return depends, provides, bad

    def recipe_facts(self, paths: Iterable[str]) -> dict[str, RecipeFacts]:
        """What the dependency check and the protected rule need of the recipes at the indexed
        tip, for those of paths the index keeps (managed .toml files present at the tip)."""
        out: dict[str, RecipeFacts] = {}
        for chunk in _chunks(sorted(set(paths))):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT path, ok, protected, provides FROM recipes "  # noqa: S608
                f"WHERE path IN ({marks})", chunk,
            ).fetchall()
            # one json.loads for the chunk: per row it was most of this lookup
            names = json.loads("[" + ",".join(r[3] for r in rows) + "]")
            for (path, ok, protected, _), provides in zip(rows, names, strict=True):
                out[path] = RecipeFacts(bool(ok), frozenset(provides), bool(protected))
        return out

    def summaries(self, is_managed: Callable[[str], bool]) -> list[BatchSummary]:
        """One line per batch for `list`, oldest first."""
        out = []
        for batch_id, (members, events, ecos) in self._assemble(self._marks(None)).items():
            if not members:
                continue
            files, _outside = net_files(members, is_managed)
            out.append(BatchSummary(
                batch_id=batch_id,
                first_time=min(m.commit.time for m in members),
                last_time=max(m.commit.time for m in members),
                commits=len({m.seq for m in members}),
                managed_files=len(files.all),
                ecosystems=tuple(sorted(set(ecos))),
                state=batch_state(events, touched_managed(members, is_managed)),
                sources=tuple(sorted({m.source for m in members})),
            ))
        return sorted(out, key=lambda s: (s.first_time, s.batch_id))


def _chunks(items: list[object] | list[int] | list[str], size: int = 500) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield list(items[i: i + size])


# -- writers -------------------------------------------------------------------------------

ProgressFn = Callable[[int, int | None], None]
WarnFn = Callable[[str], None]


class _Writer:
    """Inserts scanned records into an open connection."""

    def __init__(self, conn: sqlite3.Connection, cfg: Config, paths: Iterable[str] = ()) -> None:
        """paths: those the records to add touch, looked up now (an incremental update must not
        load the ids of every path of a large registry)."""
        self.conn = conn
        self.classifier = Classifier(cfg)
        self.path_ids: dict[str, int] = {}
        for chunk in _chunks(sorted(set(paths))):
            marks = ",".join("?" * len(chunk))
            self.path_ids.update(conn.execute(
                f"SELECT path, id FROM paths WHERE path IN ({marks})", chunk))  # noqa: S608
        (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM paths").fetchone()
        self.next_path_id: int = top + 1
        self.commit_rows: list[tuple[object, ...]] = []
        self.change_rows: list[tuple[int, int, str, int, bytes | None, int, bytes | None]] = []
        self.mark_rows: list[tuple[str, str, int, str, str]] = []
        self.pull_rows: list[tuple[int, int]] = []
        self.new_paths: list[tuple[int, str]] = []
        self.cfg = cfg
        self.id_adds: list[tuple[int, str, str]] = []  # (seq, path, blob) of added id files

    def add(self, seq: int, rec: Record) -> None:
        info = rec.info
        self.commit_rows.append((seq, info.oid, " ".join(info.parents), info.author, info.email,
                                 info.time, info.subject, rec.ctime))
        for ch in rec.changes:
            pid = self.path_ids.get(ch.path)
            if pid is None:
                pid = self.next_path_id
                self.next_path_id += 1
                self.path_ids[ch.path] = pid
                self.new_paths.append((pid, ch.path))
            if ch.raw is None:  # every writer reads `git log --raw` (plumbing.LOG_DIFF)
                raise ValueError(f"{info.oid}: {ch.path}: change without its sides")
            # ":<old mode> <new mode> <old id> <new id> <status>"; mode 0: absent on that side
            old_mode, new_mode, old_oid, new_oid, _status = ch.raw[1:].split(b" ")
            om, nm = int(old_mode, 8), int(new_mode, 8)
            self.change_rows.append((seq, pid, ch.status, om, unhexlify(old_oid) if om else None,
                                     nm, unhexlify(new_oid) if nm else None))
            if ch.status == "A" and self.cfg.batch.id_files and offbase.is_id_file(
                    self.cfg, ch.path):
                self.id_adds.append((seq, ch.path, new_oid.decode()))
        c = self.classifier.classify(rec.message, info.subject)
        if c is None:
            return
        for batch_id, source, detail in c.members:
            self.mark_rows.append((batch_id, "member", seq, source, detail))
            self.mark_rows.extend((batch_id, "ecosystem", seq, "", e) for e in c.ecosystems)
        for kind, batch_id in c.events:
            self.mark_rows.append((batch_id, kind, seq, "", ""))
        if c.pull is not None:
            self.pull_rows.append((seq, c.pull))

    def mark_id_files(self, repo: RepoInfo) -> None:
        """Members named by the id files the added commits brought (batch.id_files)."""
        named = offbase.ids_in_blobs(repo, self.cfg, [(seq, blob) for seq, _p, blob
                                                      in self.id_adds])
        self.conn.executemany("INSERT INTO marks VALUES (?, 'member', ?, ?, ?)",
                              [(batch_id, seq, SOURCE_ID_FILE, path)
                               for (seq, path, _b), ids in zip(self.id_adds, named, strict=True)
                               for batch_id in ids if not self._member(batch_id, seq)])
        self.id_adds.clear()

    def _member(self, batch_id: str, seq: int) -> bool:
        """Whether the commit is already a member of the batch (its trailer named it)."""
        return self.conn.execute("SELECT 1 FROM marks WHERE batch_id = ? AND seq = ? AND "
                                 "kind = 'member'", (batch_id, seq)).fetchone() is not None

    def flush(self) -> None:
        ex = self.conn.executemany
        ex("INSERT INTO paths(id, path) VALUES (?, ?)", self.new_paths)
        ex("INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.commit_rows)
        ex("INSERT OR IGNORE INTO changes(seq, path_id, status, old_mode, old_oid, new_mode, "
           "new_oid) VALUES (?, ?, ?, ?, ?, ?, ?)", self.change_rows)
        ex("INSERT INTO marks VALUES (?, ?, ?, ?, ?)", self.mark_rows)
        ex("INSERT INTO pulls VALUES (?, ?)", self.pull_rows)
        for rows in (self.new_paths, self.commit_rows, self.change_rows, self.mark_rows,
                     self.pull_rows):
            rows.clear()


def _script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; run statements one by one.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(values.items()))


EXPLICIT = (SOURCE_TRAILER, SOURCE_LEGACY, SOURCE_LEDGER, SOURCE_ID_FILE)


def _refresh_landings(conn: sqlite3.Connection, repo: RepoInfo, cfg: Config, tip: str,
                      refs: dict[str, str], *, new_seqs: list[int] | None = None) -> None:
    """Members by content and by `(#N)` pull requests, file by file (history.landings).

    new_seqs None: everything again (the in-flight refs changed, or a new base commit reached
    into them); otherwise only those base commits are weighed, against the stored offers."""
    if new_seqs is None or _offbase_reached(conn, new_seqs):
        found = offbase.read_offbase(repo, cfg, tip, refs)
        for table in ("offers", "offer_files", "offbase", "member_paths", "ambiguous"):
            conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        conn.execute("DELETE FROM marks WHERE source IN (?, ?)", (SOURCE_CONTENT, SOURCE_PULL))
        _store_offers(conn, found)
        offers = list(found.offers)
        candidates = _candidates(conn, offers, None)
        landed: set[tuple[str, str]] = set()
    else:
        offers = _stored_offers(conn)
        candidates = _candidates(conn, offers, new_seqs)
        landed = _landed(conn)
    result = landings.attribute(candidates, offers, landed)
    ecosystems = {b: v.split() for b, v in conn.execute(
        "SELECT batch_id, group_concat(value, ' ') FROM offbase WHERE kind = 'ecosystem' "
        "GROUP BY batch_id")}
    ids = _path_ids(conn, {p for c in result.claims for p in c.paths}
                    | {a.path for a in result.ambiguous})
    for claim in result.claims:
        conn.execute("INSERT INTO marks VALUES (?, 'member', ?, ?, ?)",
                     (claim.batch_id, claim.seq, claim.source, claim.detail))
        conn.executemany("INSERT INTO marks VALUES (?, 'ecosystem', ?, ?, ?)",
                         [(claim.batch_id, claim.seq, claim.source, e)
                          for e in ecosystems.get(claim.batch_id, ())])
        conn.executemany("INSERT INTO member_paths VALUES (?, ?, ?)",
                         [(claim.batch_id, claim.seq, ids[p]) for p in claim.paths])
    conn.executemany("INSERT INTO ambiguous VALUES (?, ?, ?)",
                     [(a.seq, ids[a.path], " ".join(a.batch_ids)) for a in result.ambiguous])


def _store_offers(conn: sqlite3.Connection, found: offbase.OffBase) -> None:
    ids = _path_ids(conn, {p for o in found.offers for p in o.files}, create=True)
    for number, offer in enumerate(found.offers, start=1):
        conn.execute("INSERT INTO offers VALUES (?, ?, ?, ?, ?)",
                     (number, offer.batch_id, offer.via, offer.since, offer.pull))
        conn.executemany("INSERT INTO offer_files VALUES (?, ?, ?)",
                         [(number, ids[p], unhexlify(b) if b else None)
                          for p, blobs in offer.files.items() for b in blobs])
    rows = [(b, "ref", r) for b, refs in found.carriers.items() for r in refs]
    rows += [(b, "ecosystem", e) for b, ecos in found.ecosystems.items() for e in ecos]
    rows += [("", "unreadable", r) for r in found.unreadable]
    rows += [("", "commit", c) for c in found.commits]
    conn.executemany("INSERT INTO offbase VALUES (?, ?, ?)", rows)


def _stored_offers(conn: sqlite3.Connection) -> list[landings.Offer]:
    files: dict[int, dict[str, set[str | None]]] = {}
    for number, path, blob in conn.execute(
            "SELECT f.offer_id, p.path, f.blob FROM offer_files f JOIN paths p "
            "ON p.id = f.path_id"):
        files.setdefault(number, {}).setdefault(path, set()).add(blob.hex() if blob else None)
    return [landings.Offer(batch_id, via, since,
                           {p: frozenset(v) for p, v in files.get(number, {}).items()}, pull)
            for number, batch_id, via, since, pull in conn.execute(
                "SELECT id, batch_id, via, since, pull FROM offers ORDER BY id")]


def _offbase_reached(conn: sqlite3.Connection, seqs: list[int]) -> bool:
    """Whether new base commits include an off-base batch commit (a pull request merged with a
    merge commit): the offers are then not what they were."""
    commits = {v for (v,) in conn.execute("SELECT value FROM offbase WHERE kind = 'commit'")}
    if not commits:
        return False
    found: set[str] = set()
    for chunk in _chunks(seqs):
        marks = ",".join("?" * len(chunk))
        found.update(o for (o,) in conn.execute(
            f"SELECT oid FROM commits WHERE seq IN ({marks})", chunk))  # noqa: S608
    return bool(found & commits)


def _candidates(conn: sqlite3.Connection, offers: list[landings.Offer],
                seqs: list[int] | None) -> list[landings.Candidate]:
    """The base commits that may land an offer (they bring one of its blobs) or that name a
    batch themselves, with their managed changes; seqs: only among these."""
    wanted: set[int] = set()
    blobs = {(p, b) for o in offers for p, versions in o.files.items() for b in versions
             if b is not None}
    ids = _path_ids(conn, {p for p, _b in blobs})
    for path, blob in blobs:
        if path in ids:
            wanted.update(seq for (seq,) in conn.execute(
                "SELECT seq FROM changes WHERE path_id = ? AND new_oid = ?",
                (ids[path], unhexlify(blob))))
    explicit: dict[int, list[str]] = {}
    marks = ",".join("?" * len(EXPLICIT))
    for batch_id, seq in conn.execute(
            f"SELECT batch_id, seq FROM marks WHERE kind = 'member' "  # noqa: S608
            f"AND source IN ({marks})", EXPLICIT):
        explicit.setdefault(seq, []).append(batch_id)
    if seqs is not None:
        keep = set(seqs)
        wanted &= keep
        explicit = {seq: b for seq, b in explicit.items() if seq in keep}
    wanted |= set(explicit)
    pulls = dict(conn.execute("SELECT seq, number FROM pulls"))
    out = []
    for chunk in _chunks(sorted(wanted)):
        marks = ",".join("?" * len(chunk))
        times = dict(conn.execute(
            f"SELECT seq, ctime FROM commits WHERE seq IN ({marks}) "  # noqa: S608
            f"AND parents NOT LIKE '% %'", chunk))  # merges land nothing themselves
        changes: dict[int, dict[str, str | None]] = {}
        for seq, path, new_mode, new_oid in conn.execute(
                f"SELECT c.seq, p.path, c.new_mode, c.new_oid FROM changes c JOIN paths p "  # noqa: S608
                f"ON p.id = c.path_id WHERE c.seq IN ({marks})", chunk):
            if seq in times:
                entry = blob_entry((new_oid.hex(), new_mode)) if new_oid else None
                changes.setdefault(seq, {})[path] = entry[0] if entry else None
        out += [landings.Candidate(seq, times[seq], changes.get(seq, {}),
                                   tuple(explicit.get(seq, ())), pulls.get(seq))
                for seq in chunk if seq in times]
    return out


def _landed(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """(batch, path) pairs some base commit already landed: attributed files, and every file of
    a commit that names its batch itself."""
    done = set(conn.execute(
        "SELECT m.batch_id, p.path FROM member_paths m JOIN paths p ON p.id = m.path_id"))
    marks = ",".join("?" * len(EXPLICIT))
    done.update(conn.execute(
        f"SELECT m.batch_id, p.path FROM marks m JOIN changes c ON c.seq = m.seq "  # noqa: S608
        f"JOIN paths p ON p.id = c.path_id WHERE m.kind = 'member' AND m.source IN ({marks})",
        EXPLICIT))
    return done


def _path_ids(conn: sqlite3.Connection, paths: Iterable[str], *, create: bool = False
              ) -> dict[str, int]:
    """path -> its id in the paths table (create: add the missing ones)."""
    wanted = sorted(set(paths))
    out: dict[str, int] = {}
    for chunk in _chunks(wanted):
        marks = ",".join("?" * len(chunk))
        out.update(conn.execute(
            f"SELECT path, id FROM paths WHERE path IN ({marks})", chunk))  # noqa: S608
    if create:
        (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM paths").fetchone()
        new = [(top + n, p) for n, p in enumerate((p for p in wanted if p not in out), start=1)]
        conn.executemany("INSERT INTO paths(id, path) VALUES (?, ?)", new)
        out.update((p, i) for i, p in new)
    return out


def _refresh_ledger(conn: sqlite3.Connection, repo: RepoInfo, cfg: Config,
                    warn: WarnFn | None) -> None:
    """Re-read the landings recorded on the verified ops branch (membership source "ledger")."""
    try:
        landings = trust.read_landings(repo, cfg)
    except GitopsError as exc:  # untrusted or corrupt ops state: history must not trust it
        if warn:
            warn(f"git-batch: landings on the ops branch ignored: {exc.message}")
        landings = {}
    conn.execute("DELETE FROM ledger")
    conn.executemany("INSERT INTO ledger VALUES (?, ?)",
                     [(b, oid) for b, oids in sorted(landings.items()) for oid in oids])
    _derive_ledger_marks(conn)


def _derive_ledger_marks(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM marks WHERE source = ?", (SOURCE_LEDGER,))
    conn.execute(
        "INSERT INTO marks SELECT l.batch_id, 'member', c.seq, ?, 'git batch land' "
        "FROM ledger l JOIN commits c ON c.oid = l.oid "
        "WHERE NOT EXISTS (SELECT 1 FROM marks m WHERE m.batch_id = l.batch_id "
        "AND m.kind = 'member' AND m.seq = c.seq)", (SOURCE_LEDGER,))


def _refresh_recipes(conn: sqlite3.Connection, repo: RepoInfo, cfg: Config, tip: str,
                     paths: list[str] | None) -> None:
    """Keep the recipes at the indexed tip (name, aliases, dependencies) for the dependency
    check of a revert: a lookup here replaces a `git grep` over every recipe. paths None: all
    of them; otherwise those that may have changed."""
    if paths is None:
        conn.execute("DELETE FROM recipes")
        conn.execute("DELETE FROM recipe_names")
        listing = process.run("ls-tree", "-r", "-z", "--full-tree", tip, repo=repo.path).stdout
        paths = [entry.split(b"\t", 1)[1].decode("utf-8", "surrogateescape")
                 for entry in listing.split(b"\0") if b"\t" in entry]
    else:
        for chunk in _chunks(paths):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM recipes WHERE path IN ({marks})", chunk)  # noqa: S608
            conn.execute(f"DELETE FROM recipe_names WHERE path IN ({marks})", chunk)  # noqa: S608
    # cat-file --batch reads one name per line
    paths = [p for p in paths if p.endswith(".toml") and "\n" not in p and cfg.is_managed(p)]
    blobs = plumbing.cat_blobs(repo.path, (f"{tip}:{p}" for p in paths))
    r = cfg.recipes
    rows: list[tuple[str, int, int, str]] = []
    names: list[tuple[str, str, str]] = []
    for path, data in zip(paths, blobs, strict=True):
        if data is None:  # deleted at the tip (or not a file)
            continue
        parsed = recipes.parse_recipe(path, data, dependency_fields=r.dependency_fields,
                                      alias_fields=r.alias_fields,
                                      protected_marker=r.protected_marker)
        if isinstance(parsed, recipes.RecipeError):
            rows.append((path, 0, 0, "[]"))
            continue
        provides = sorted({parsed.name, *parsed.aliases})
        rows.append((path, 1, int(parsed.protected), json.dumps(provides)))
        names += [(n, path, "provides") for n in provides]
        names += [(n, path, "depends") for n in set(parsed.dependencies)]
    conn.executemany("INSERT INTO recipes VALUES (?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO recipe_names VALUES (?, ?, ?)", names)


def refresh_recipes(repo: RepoInfo, cfg: Config, path: StrPath) -> bool:
    """Bring the recipe tables from the commit they describe to the indexed tip; False when
    the index could not be written (ensure_index then rebuilds it).

    The recipes to read again are exactly those whose blob differs between the two commits
    (one `git diff-tree`), not those the new commits' first-parent diffs name: a merge that
    keeps one side's version of a file names no change of it, yet the tip's version differs
    from the one the tables hold.
    """

    def refresh(conn: sqlite3.Connection) -> bool:
        idx = Index(conn, path)
        tip, since = idx.meta("tip"), idx.recipes_tip()
        if tip is None:
            return False
        if since != tip:
            paths: list[str] | None = None  # everything, when the old commit is gone
            if since is not None:
                diff = process.run("diff-tree", "-r", "-z", "--name-only", "--no-renames",
                                  "--end-of-options", since, tip, repo=repo.path,
                                  ok=frozenset({0, 128}))
                if diff.returncode == 0:
                    paths = sorted({p.decode("utf-8", "surrogateescape")
                                    for p in diff.stdout.split(b"\0") if p})
            _refresh_recipes(conn, repo, cfg, tip, paths)
            _set_meta(conn, {"recipes_tip": tip})
        return True

    return _write_transaction(path, refresh)


def build_full(repo: RepoInfo, cfg: Config, want: Freshness, dest: Path, *,
               progress: ProgressFn | None = None, warn: WarnFn | None = None) -> None:
    """Build a fresh index into dest atomically."""
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # something other than a directory stands there
            raise IndexUnavailable(
                f"cannot write the history index at {dest}: {dest.parent} is not a directory.",
                hint="move that file away (the directory only holds caches), or query without "
                     "the index: --no-index",
            ) from None
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute("BEGIN")
            _script(conn, SCHEMA)
            writer = _Writer(conn, cfg)
            # Oldest first, so seq (1, 2, ...; larger is newer) grows with every insert: rows
            # are appended to the tables' B-trees instead of pushed in at their left end, which
            # leaves pages half empty (a smaller index, and a faster build).
            order = _topo_order(repo, want.tip)[::-1]
            total = len(order)
            count = 0
            if progress:
                progress(0, total)
            # git computes every commit's changes on one core (most of a build) while this one
            # reads the recipes at the tip, then parses and stores the commits as they come
            with _walk(repo, order) as chunks:
                _refresh_recipes(conn, repo, cfg, want.tip, None)
                for count, rec in enumerate(log.parse_log_stream(chunks), start=1):
                    writer.add(count, rec)
                    if count % 5000 == 0:
                        writer.flush()
                    if progress and count % 1000 == 0:
                        progress(count, total)
            writer.flush()
            _script(conn, INDEXES)
            writer.mark_id_files(repo)
            _refresh_ledger(conn, repo, cfg, warn)
            _refresh_landings(conn, repo, cfg, want.tip, json.loads(want.refs))
            _set_meta(conn, {"tool": TOOL, "schema_version": SCHEMA_VERSION,
                             "fingerprint": want.fingerprint, "base_ref": want.base_ref,
                             "tip": want.tip, "recipes_tip": want.tip, "refs": want.refs,
                             "ledger": want.ledger, "commits": str(count)})
            conn.execute("COMMIT")
            if progress:
                progress(count, count)
        finally:
            conn.close()
        os.replace(tmp, dest)
    except OSError as exc:
        raise IndexUnavailable(
            f"cannot write the history index at {dest}: {exc.strerror or exc}.",
            hint="fix the permissions of that directory, or query without it: --no-index",
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _topo_order(repo: RepoInfo, tip: str) -> list[str]:
    return process.run("rev-list", "--topo-order", tip, repo=repo.path).text.split()


def _walk(repo: RepoInfo, oids: list[str]) -> process.Stream:
    """`git log` of oids with their changes, in the order of oids, started now."""
    return process.stream("log", "--no-walk=unsorted", "--stdin", plumbing.LOG_FORMAT,
                          *plumbing.LOG_DIFF, repo=repo.path,
                          stdin=("\n".join(oids) + "\n").encode())


def _new_records(conn: sqlite3.Connection, repo: RepoInfo, old: str, tip: str
                 ) -> list[Record] | None:
    """Full records of the commits reachable from tip that the index lacks, oldest first
    (parents before children); None when old is not among tip's ancestors.

    `git log tip ^old` is not used: without a commit-graph, git must walk the whole history to
    settle the negative ref when merges bring in old side branches.
    Instead one `git log` (records with their changes) streams from tip, and we stop reading,
    and stop git, as soon as every open path has reached a commit the index already holds.
    """
    def indexed(oid: str) -> bool:
        return conn.execute("SELECT 1 FROM commits WHERE oid = ?", (oid,)).fetchone() is not None

    found: dict[str, Record] = {}
    needed = {tip}
    reached_old = False
    # small chunks: every commit read past the indexed history is a tree diff git computed
    # for nothing
    with process.stream("log", plumbing.LOG_FORMAT, *plumbing.LOG_DIFF, tip, "--",
                        repo=repo.path, chunk=4096) as chunks:
        for rec in log.parse_log_stream(chunks):
            oid = rec.info.oid
            if oid not in needed:
                continue
            needed.discard(oid)
            if oid == old:
                reached_old = True
            if not indexed(oid):
                found[oid] = rec
                needed.update(p for p in rec.info.parents if p not in found)
            if not needed:
                break  # read as far as needed: leaving the block stops git
    if not reached_old:
        # Also when clock skew let a parent through before its child: a rebuild is always safe.
        return None
    order: list[Record] = []
    done: set[str] = set()
    for start in found:  # depth-first post-order: parents first
        stack = [(start, False)]
        while stack:
            oid, expanded = stack.pop()
            if oid in done or oid not in found:
                continue
            if expanded:
                done.add(oid)
                order.append(found[oid])
                continue
            stack.append((oid, True))
            stack.extend((p, False) for p in found[oid].info.parents if p not in done)
    return order


def update_incremental(repo: RepoInfo, cfg: Config, want: Freshness, path: StrPath,
                       warn: WarnFn | None = None) -> bool:
    """Append commits since the stored tip; False when a full rebuild is needed instead."""

    def append(conn: sqlite3.Connection) -> bool:
        idx = Index(conn, path)
        if idx.is_fresh(want):
            return True  # another process did it while we waited for the lock
        old = idx.meta("tip") or ""
        if idx.meta("fingerprint") != want.fingerprint or idx.meta("base_ref") != want.base_ref:
            return False
        new_oids: set[str] = set()
        new_seqs: list[int] = []
        if old != want.tip:
            fresh = _new_records(conn, repo, old, want.tip)
            if fresh is None:  # the stored tip is no longer in the base's history: rewritten
                return False
            (top,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commits").fetchone()
            writer = _Writer(conn, cfg, (c.path for r in fresh for c in r.changes))
            for offset, rec in enumerate(fresh, start=1):
                writer.add(top + offset, rec)
                new_oids.add(rec.info.oid)
                new_seqs.append(top + offset)
            writer.flush()
            writer.mark_id_files(repo)
            # The recipe tables stay at the commit they describe (meta recipes_tip): only
            # revert and inflight read them, and they bring them up to date first
            # (refresh_recipes), so a show or list after new commits parses no TOML.
        ledger_moved = (idx.meta("ledger") or "") != want.ledger
        if ledger_moved:
            _refresh_ledger(conn, repo, cfg, warn)
        elif new_oids:
            _derive_ledger_marks(conn)
        if idx.meta("refs") != want.refs or ledger_moved:
            _refresh_landings(conn, repo, cfg, want.tip, json.loads(want.refs))
        elif new_seqs:
            _refresh_landings(conn, repo, cfg, want.tip, json.loads(want.refs),
                              new_seqs=new_seqs)
        stored = idx.meta("commits") or ""
        if stored.isdigit():  # appended exactly the new commits: no COUNT(*) of every row
            count = int(stored) + len(new_oids)
        else:
            (count,) = conn.execute("SELECT COUNT(*) FROM commits").fetchone()
        _set_meta(conn, {"tip": want.tip, "refs": want.refs, "ledger": want.ledger,
                         "commits": str(count)})
        return True

    return _write_transaction(path, append)


def _write_transaction(path: StrPath, work: Callable[[sqlite3.Connection], bool]) -> bool:
    """work(conn) in one BEGIN IMMEDIATE transaction (one writer at a time; the others wait),
    committed when it returns True, rolled back when it returns False or the database fails
    (then False: the caller rebuilds or falls back)."""
    try:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    except sqlite3.DatabaseError:
        return False
    try:
        conn.execute("PRAGMA busy_timeout=60000")
        # The rollback journal still makes every transaction all or nothing for a killed
        # process; only an operating-system crash could leave a torn file, which Index.open
        # then refuses and the next command rebuilds (the index is a cache). No fsync, then.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN IMMEDIATE")
        done = work(conn)
        conn.execute("COMMIT" if done else "ROLLBACK")
        return done
    except sqlite3.DatabaseError:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()
