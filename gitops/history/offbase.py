"""Batch commits that are not on the base: which in-flight refs carry them, and the versions of
the batch's files each of those refs offers for a landing (history.landings decides where they
landed).

One walk of every in-flight ref's own commits (`git log <heads> ^<base>`, messages and parents,
no diffs) finds the batch commits and which refs reach them; only the batch commits are diffed,
and the blobs the refs' heads hold for the batch's paths come from one `cat-file`. A ref whose
objects are missing (a mirror that lost them) is reported as unreadable and left out; the rest
is read all the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from gitops.config import Config, glob_to_regex, pull_ref_regex
from gitops.git import plumbing, process
from gitops.git.process import ZERO_OID
from gitops.git.repository import RepoInfo
from gitops.history.landings import Offer
from gitops.history.log import Classifier, Record, parse_log


class OffBase(NamedTuple):
    offers: tuple[Offer, ...]
    commits: tuple[str, ...]  # the batch commits found (a later base tip may reach them)
    carriers: dict[str, tuple[str, ...]]  # batch id -> the in-flight refs carrying its commits
    ecosystems: dict[str, tuple[str, ...]]  # batch id -> ecosystems its off-base commits name
    unreadable: tuple[str, ...]  # refs left out: objects of their history are missing


def read_offbase(repo: RepoInfo, cfg: Config, base_tip: str, refs: Mapping[str, str]
                 ) -> OffBase:
    """What the in-flight refs (name -> commit id; the caller leaves the base out) carry of
    batches that are not on the base."""
    heads: dict[str, list[str]] = {}  # head commit -> ref names
    for name, oid in sorted(refs.items()):
        heads.setdefault(oid, []).append(name)
    present = _commits_present(repo, list(heads))
    unreadable = [n for oid, names in heads.items() if oid not in present for n in names]
    records, bad = _walk(repo, base_tip, [oid for oid in heads if oid in present])
    unreadable += [n for oid in bad for n in heads[oid]]
    graph = {r.info.oid: r for r in records}
    classifier = Classifier(cfg)
    carried: dict[str, tuple[str, ...]] = {}  # commit -> batch ids it names
    ecos: dict[str, set[str]] = {}
    for rec in records:
        c = classifier.classify(rec.message, rec.info.subject)
        if c is not None and c.members:
            carried[rec.info.oid] = tuple(dict.fromkeys(b for b, _s, _d in c.members))
            for batch_id in carried[rec.info.oid]:
                ecos.setdefault(batch_id, set()).update(c.ecosystems)
    named, broken = ids_from_files(repo, cfg, [o for o in graph if o not in carried])
    for oid, batch_ids in named:
        carried[oid] = batch_ids
    files, broken_diffs = _changes(repo, list(carried))
    broken |= broken_diffs
    if broken:  # heads reaching a commit whose tree is missing: left out like the others
        for head, names in heads.items():
            if head in graph and head not in bad and _reachable(graph, head) & broken:
                bad.add(head)
                unreadable += names
    if not carried:
        return OffBase((), (), {}, {}, tuple(sorted(unreadable)))
    regex = pull_ref_regex(cfg)
    offers: list[Offer] = []
    refs_of: dict[str, set[str]] = {}
    # (head, batch) -> path -> the versions its batch commits in that head wrote
    wanted: dict[tuple[str, str], dict[str, set[str | None]]] = {}
    since: dict[tuple[str, str], int] = {}
    for head, names in heads.items():
        if head not in graph or head in bad:
            continue
        for oid in _reachable(graph, head):
            for batch_id in carried.get(oid, ()):
                versions = wanted.setdefault((head, batch_id), {})
                for path, blob in files.get(oid, {}).items():
                    versions.setdefault(path, set()).add(blob)
                key = (head, batch_id)
                since[key] = min(since.get(key, graph[oid].ctime), graph[oid].ctime)
                refs_of.setdefault(batch_id, set()).update(names)
    at_heads = _blobs_at(repo, [(h, p) for (h, _b), paths in wanted.items() for p in paths])
    for (head, batch_id), versions in sorted(wanted.items()):
        if not versions:
            continue
        names = heads[head]
        pulls = [int(m.group(1)) for n in names if (m := regex.match(n))]
        via = next((n for n in names if regex.match(n)), names[0])
        offers.append(Offer(batch_id, via, since[head, batch_id],
                            {p: frozenset({*v, at_heads.get((head, p))})
                             for p, v in sorted(versions.items())},
                            pulls[0] if pulls else None))
    return OffBase(tuple(offers), tuple(sorted(carried)),
                   {b: tuple(sorted(r)) for b, r in refs_of.items()},
                   {b: tuple(sorted(e)) for b, e in ecos.items()}, tuple(sorted(unreadable)))


def _commits_present(repo: RepoInfo, oids: list[str]) -> set[str]:
    """The oids that name commits this repository has."""
    if not oids:
        return set()
    res = process.run("cat-file", "--batch-check=%(objectname) %(objecttype)", repo=repo.path,
                      stdin="".join(f"{o}\n" for o in oids).encode())
    return {line.split()[0] for line in res.text.splitlines() if line.endswith(" commit")}


def _walk(repo: RepoInfo, base_tip: str, heads: list[str]) -> tuple[list[Record], set[str]]:
    """The commits of heads that are not on the base (messages, parents), and the heads whose
    history git could not read (plumbing.readable_parts: one broken ref costs a few more walks,
    not the answer)."""
    if not heads:
        return [], set()

    def walk(part: list[str]) -> list[Record]:
        stdin = ("".join(f"{h}\n" for h in part) + f"^{base_tip}\n").encode()
        return list(parse_log(process.run("log", plumbing.LOG_FORMAT, "-z", "--stdin",
                                          repo=repo.path, stdin=stdin).stdout))

    done, failed = plumbing.readable_parts(heads, walk)
    records: dict[str, Record] = {}
    for _part, found in done:
        for rec in found:
            records.setdefault(rec.info.oid, rec)
    return list(records.values()), set(failed)


def _reachable(graph: Mapping[str, Record], head: str) -> set[str]:
    """head and its ancestors among the off-base commits."""
    out: set[str] = set()
    stack = [head]
    while stack:
        oid = stack.pop()
        if oid in out or oid not in graph:
            continue
        out.add(oid)
        stack.extend(graph[oid].info.parents)
    return out


def _changes(repo: RepoInfo, oids: list[str]
             ) -> tuple[dict[str, dict[str, str | None]], set[str]]:
    """commit -> the paths it changes and their blobs after it (None: deleted), against its
    first parent; one `git log --no-walk` over the batch commits. Paths outside the managed
    ones count too: a landing brings them along, and show lists them as outside. Also the
    commits whose trees git cannot read."""

    def diff(part: list[str]) -> bytes:
        return process.run("log", "--no-walk=unsorted", "--stdin", plumbing.LOG_FORMAT,
                           *plumbing.LOG_DIFF, repo=repo.path,
                           stdin=("".join(f"{o}\n" for o in part)).encode()).stdout

    if not oids:
        return {}, set()
    done, failed = plumbing.readable_parts(oids, diff)
    out: dict[str, dict[str, str | None]] = {}
    for _part, data in done:
        for rec in parse_log(data):
            out[rec.info.oid] = {c.path: new_blob(c.raw) for c in rec.changes
                                 if c.raw is not None}
    return out, set(failed)


def new_blob(raw: bytes) -> str | None:
    """The blob a `--raw` change leaves (None when the path is gone or not a file)."""
    _old_mode, new_mode, _old, new, _status = raw[1:].split(b" ")
    mode = int(new_mode, 8)
    if mode & 0o170000 not in (0o100000, 0o120000) or new.decode() == ZERO_OID:
        return None
    return new.decode()


def _blobs_at(repo: RepoInfo, where: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(commit, path) -> the blob at path in commit; missing paths are left out."""
    wanted = [(c, p) for c, p in where if "\n" not in p]
    if not wanted:
        return {}
    res = process.run("cat-file", "--batch-check=%(objectname) %(objecttype)", repo=repo.path,
                      stdin="".join(f"{c}:{p}\n" for c, p in wanted).encode())
    out: dict[tuple[str, str], str] = {}
    for (commit, path), line in zip(wanted, res.text.splitlines(), strict=True):
        oid, _, kind = line.partition(" ")
        if kind == "blob":
            out[commit, path] = oid
    return out


def ids_from_files(repo: RepoInfo, cfg: Config, oids: list[str]
                   ) -> tuple[list[tuple[str, tuple[str, ...]]], set[str]]:
    """(commit, batch ids) for the commits of oids that add a file matching one of
    batch.id_files whose JSON lines name a batch (a run record the pipeline committed with the
    batch); and the commits whose trees git cannot read."""
    if not cfg.batch.id_files or not oids:
        return [], set()
    globs = [f":(glob){f.glob}" for f in cfg.batch.id_files]

    def added_files(part: list[str]) -> bytes:
        return process.run("log", "--no-walk=unsorted", "--stdin", "--diff-filter=A", "--raw",
                           "--no-abbrev", "-z", "--no-renames", "--format=%x1e%H", "--", *globs,
                           repo=repo.path, stdin="".join(f"{o}\n" for o in part).encode()
                           ).stdout

    done, failed = plumbing.readable_parts(oids, added_files)
    data = b"".join(found for _part, found in done)
    added: list[tuple[str, str]] = []  # (commit, blob)
    for record in data.split(b"\x1e")[1:]:
        tokens = record.split(b"\0")
        commit = tokens[0].strip().decode()
        for meta, raw_path in zip(tokens[1::2], tokens[2::2], strict=False):
            fields = meta.strip().split(b" ")
            path = raw_path.decode("utf-8", "surrogateescape")
            if len(fields) == 5 and is_id_file(cfg, path):
                added.append((commit, fields[3].decode()))
    by_commit: dict[str, list[str]] = {}
    for (commit, _blob), ids in zip(added, ids_in_blobs(repo, cfg, added), strict=True):
        by_commit.setdefault(commit, []).extend(ids)
    return ([(c, tuple(dict.fromkeys(ids))) for c, ids in sorted(by_commit.items()) if ids],
            set(failed))


def is_id_file(cfg: Config, path: str) -> bool:
    """Whether path is one of the files batch.id_files reads."""
    return any(re.fullmatch(glob_to_regex(f.glob), path) for f in cfg.batch.id_files)


def ids_in_blobs(repo: RepoInfo, cfg: Config, blobs: Sequence[tuple[object, str]]
                 ) -> list[tuple[str, ...]]:
    """For each (anything, blob) of an id file: the batch ids its JSON lines name in any of
    the configured fields (valid ids only), in order."""
    fields = {f.field for f in cfg.batch.id_files}
    out = []
    for data in plumbing.cat_blobs(repo.path, [blob for _k, blob in blobs]):
        found: dict[str, None] = {}
        for line in (data or b"").decode("utf-8", "replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            for field in fields:
                value = doc.get(field)
                if isinstance(value, str) and cfg.id_regex.fullmatch(value):
                    found[value] = None
        out.append(tuple(found))
    return out
