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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from gitops import recipes
from gitops.config import Config
from gitops.errors import GitopsError, IndexUnavailable
from gitops.git import plumbing, process
from gitops.git.process import StrPath
from gitops.git.repository import RepoInfo
from gitops.history import log
from gitops.history.log import Classifier, Record
from gitops.history.report import (
    SOURCE_LEDGER,
    SOURCE_PULL,
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
from gitops.history.scan import pull_batches
from gitops.ops import trust

# 6: changes keep both sides (mode and blob id) of each change, from `git log --raw`, keyed by
#    commit (a build appends rows in commit order; by path is the secondary index); recipes
#    keep the protected marker and the names each provides (a JSON list).
# 7: the recipe tables describe meta recipes_tip, which an incremental update leaves behind
#    (refresh_recipes brings it to the tip); a version-6 reader would take them for the tip's.
SCHEMA_VERSION = "7"
APPLICATION_ID = 0x47425431  # "GBT1"
TOOL = "git-batch history index"

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE commits(seq INTEGER PRIMARY KEY, oid TEXT NOT NULL, parents TEXT NOT NULL,
                     author TEXT NOT NULL, email TEXT NOT NULL, time INTEGER NOT NULL,
                     subject TEXT NOT NULL);
CREATE TABLE paths(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE changes(seq INTEGER NOT NULL, path_id INTEGER NOT NULL, status TEXT NOT NULL,
                     old_mode INTEGER NOT NULL, old_oid BLOB, new_mode INTEGER NOT NULL,
                     new_oid BLOB, PRIMARY KEY(seq, path_id)) WITHOUT ROWID;
CREATE TABLE marks(batch_id TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
                   source TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE pulls(seq INTEGER NOT NULL, number INTEGER NOT NULL);
CREATE TABLE pull_batches(number INTEGER NOT NULL, batch_id TEXT NOT NULL,
                          commits TEXT NOT NULL, ecosystems TEXT NOT NULL);
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
    pulls: str  # canonical JSON of {ref: oid}
    ledger: str = ""  # the ops branch refs' values: landings recorded with `git batch land`


class RecipeFacts(NamedTuple):
    """A recipe at the indexed tip as recipes.parse_recipe saw it."""

    ok: bool  # False: its TOML or a configured field is malformed
    provides: frozenset[str]  # its name and aliases
    protected: bool  # carries the protected marker


def pulls_json(pulls: dict[str, str]) -> str:
    return json.dumps(pulls, sort_keys=True, separators=(",", ":"))


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
            and self.meta("pulls") == want.pulls
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
        for batch_id, kind, seq, source, detail in rows:
            members, events, ecos = out.setdefault(batch_id, ([], [], []))
            if kind == "member":
                members.append(Member(infos[seq], seq, source, detail,
                                      tuple(changes.get(seq, ()))))
            elif kind in ("revert", "reapply"):
                paths = tuple(c.path for c in changes.get(seq, ()))
                events.append(Event(kind, infos[seq], seq, paths))
            elif kind == "ecosystem":
                ecos.append(detail)
        return out

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
        return build_report(batch_id, members=members, events=events, later_edits=later,
                            ecosystems=ecos, is_managed=is_managed)

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

    def add(self, seq: int, rec: Record) -> None:
        info = rec.info
        self.commit_rows.append((seq, info.oid, " ".join(info.parents), info.author, info.email,
                                 info.time, info.subject))
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

    def flush(self) -> None:
        ex = self.conn.executemany
        ex("INSERT INTO paths(id, path) VALUES (?, ?)", self.new_paths)
        ex("INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?, ?)", self.commit_rows)
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


def _refresh_pulls(conn: sqlite3.Connection, repo: RepoInfo, cfg: Config, tip: str,
                   pulls: dict[str, str]) -> None:
    """Recompute which pull requests carry which batches (one walk of their own commits)."""
    conn.execute("DELETE FROM pull_batches")
    rows = []
    for number, by_batch in pull_batches(repo, cfg, tip, pulls).items():
        for batch_id, carry in by_batch.items():
            rows.append((number, batch_id, " ".join(carry.commits), " ".join(carry.ecosystems)))
    conn.executemany("INSERT INTO pull_batches VALUES (?, ?, ?, ?)", rows)
    _derive_pull_marks(conn)


def _derive_pull_marks(conn: sqlite3.Connection) -> None:
    """Members (and ecosystems) implied by `(#N)` commits on the base and pull_batches."""
    conn.execute("DELETE FROM marks WHERE source = ?", (SOURCE_PULL,))
    derived = conn.execute(
        "SELECT pb.batch_id, p.seq, p.number, pb.ecosystems FROM pulls p "
        "JOIN pull_batches pb ON pb.number = p.number "
        "WHERE NOT EXISTS (SELECT 1 FROM marks m WHERE m.batch_id = pb.batch_id "
        "AND m.kind = 'member' AND m.seq = p.seq)"
    ).fetchall()
    marks = []
    for batch_id, seq, number, ecos in derived:
        marks.append((batch_id, "member", seq, SOURCE_PULL, f"#{number}"))
        marks.extend((batch_id, "ecosystem", seq, SOURCE_PULL, e) for e in ecos.split())
    conn.executemany("INSERT INTO marks VALUES (?, ?, ?, ?, ?)", marks)


def _pull_sets_changed(conn: sqlite3.Connection, new_oids: set[str],
                       pulls: dict[str, str]) -> bool:
    """Whether new base commits reach into a pull request's own commits (a PR merged with a
    merge commit, or a stacked PR): only then must the pull request walk run again."""
    if new_oids & set(pulls.values()):
        return True
    return any(set(commits.split()) & new_oids
               for (commits,) in conn.execute("SELECT commits FROM pull_batches"))


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
            _refresh_pulls(conn, repo, cfg, want.tip, json.loads(want.pulls))
            _refresh_ledger(conn, repo, cfg, warn)
            _set_meta(conn, {"tool": TOOL, "schema_version": SCHEMA_VERSION,
                             "fingerprint": want.fingerprint, "base_ref": want.base_ref,
                             "tip": want.tip, "recipes_tip": want.tip, "pulls": want.pulls,
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
        if old != want.tip:
            fresh = _new_records(conn, repo, old, want.tip)
            if fresh is None:  # the stored tip is no longer in the base's history: rewritten
                return False
            (top,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commits").fetchone()
            writer = _Writer(conn, cfg, (c.path for r in fresh for c in r.changes))
            for offset, rec in enumerate(fresh, start=1):
                writer.add(top + offset, rec)
                new_oids.add(rec.info.oid)
            writer.flush()
            # The recipe tables stay at the commit they describe (meta recipes_tip): only
            # revert and inflight read them, and they bring them up to date first
            # (refresh_recipes), so a show or list after new commits parses no TOML.
        pulls = json.loads(want.pulls)
        if idx.meta("pulls") != want.pulls or _pull_sets_changed(conn, new_oids, pulls):
            _refresh_pulls(conn, repo, cfg, want.tip, pulls)
        elif new_oids:
            _derive_pull_marks(conn)
        if (idx.meta("ledger") or "") != want.ledger:
            _refresh_ledger(conn, repo, cfg, warn)
        elif new_oids:
            _derive_ledger_marks(conn)
        stored = idx.meta("commits") or ""
        if stored.isdigit():  # appended exactly the new commits: no COUNT(*) of every row
            count = int(stored) + len(new_oids)
        else:
            (count,) = conn.execute("SELECT COUNT(*) FROM commits").fetchone()
        _set_meta(conn, {"tip": want.tip, "pulls": want.pulls, "ledger": want.ledger,
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
