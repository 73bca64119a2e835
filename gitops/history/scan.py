"""Batch history straight from git, without the index: the cold `show`, pull request walks.

One `git log --grep` over the base finds the batch's own commits; pull request refs, `(#N)`
squash subjects and the ops branch's landings add the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import NamedTuple

from gitops.config import Config, pull_ref_regex
from gitops.errors import GitopsError, RepositoryError
from gitops.git import plumbing, process
from gitops.git.plumbing import LOG_DIFF, LOG_FORMAT
from gitops.git.process import Oid
from gitops.git.repository import RepoInfo
from gitops.history import offbase
from gitops.history.log import CHANGE_STATUSES, Classified, Classifier, Record, decode, parse_log
from gitops.history.report import (
    SOURCE_LEDGER,
    SOURCE_PULL,
    BatchReport,
    Change,
    CommitInfo,
    Event,
    LaterEdit,
    Member,
    build_report,
)
from gitops.ops import trust


def list_pulls(repo: RepoInfo, cfg: Config) -> dict[str, str]:
    """Pull request head refs (name -> commit id) matching the configured pattern."""
    res = process.run("for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options",
                      cfg.repo.pull_ref_pattern, repo=repo.path)
    found = {name: oid for oid, _, name in (line.partition(" ") for line in res.text.splitlines())}
    regex = pull_ref_regex(cfg)
    return {name: oid for name, oid in sorted(found.items()) if regex.match(name)}


class PullBatch(NamedTuple):
    commits: tuple[str, ...]  # the pull request's commits carrying the batch id
    ecosystems: tuple[str, ...]


def _pull_numbers(cfg: Config, pulls: dict[str, str]) -> dict[str, list[int]]:
    """head oid -> pull request numbers whose ref points at it."""
    regex = pull_ref_regex(cfg)
    out: dict[str, list[int]] = {}
    for name, head in pulls.items():
        match = regex.match(name)
        if match:
            out.setdefault(head, []).append(int(match.group(1)))
    return out


def _carriers(cfg: Config, records: Iterator[Record]
              ) -> tuple[dict[str, set[str]], dict[str, tuple[str, ...]], dict[str, list[str]]]:
    classifier = Classifier(cfg)
    carriers: dict[str, set[str]] = {}
    ecosystems: dict[str, tuple[str, ...]] = {}
    parents: dict[str, list[str]] = {}
    for rec in records:
        parents[rec.info.oid] = list(rec.info.parents)
        c = classifier.classify(rec.message, rec.info.subject)
        if c and c.members:
            carriers[rec.info.oid] = {b for b, _s, _d in c.members}
            ecosystems[rec.info.oid] = c.ecosystems
    return carriers, ecosystems, parents


def _pull_stdin(pulls: dict[str, str], base_tip: str) -> bytes:
    heads = "".join(f"{oid}\n" for oid in sorted(set(pulls.values())))
    return (heads + f"^{base_tip}\n").encode()


def pull_batches(repo: RepoInfo, cfg: Config, base_tip: str, pulls: dict[str, str]
                 ) -> dict[int, dict[str, PullBatch]]:
    """PR number -> batch id -> what carries it; a PR's commits are `head --not base`.

    One walk over every pull request's own commits gives both the graph and the messages.
    """
    if not pulls:
        return {}
    data = process.run("log", LOG_FORMAT, "-z", "--stdin", repo=repo.path,
                      stdin=_pull_stdin(pulls, base_tip)).stdout
    carriers, ecosystems, parents = _carriers(cfg, parse_log(data))
    result: dict[int, dict[str, PullBatch]] = {}
    for head, numbers in _pull_numbers(cfg, pulls).items():
        if head not in parents:
            continue  # merged into the base: its commits are members in their own right
        seen: set[str] = set()
        stack = [head]
        found: dict[str, list[str]] = {}
        while stack:
            oid = stack.pop()
            if oid in seen or oid not in parents:
                continue
            seen.add(oid)
            for bid in carriers.get(oid, ()):
                found.setdefault(bid, []).append(oid)
            stack.extend(parents[oid])
        if found:
            by_batch = {
                b: PullBatch(tuple(sorted(v)),
                             tuple(sorted({e for o in v for e in ecosystems.get(o, ())})))
                for b, v in found.items()
            }
            for number in numbers:
                result[number] = by_batch
    return result


def pulls_carrying(repo: RepoInfo, cfg: Config, base_tip: str, pulls: dict[str, str],
                   batch_id: str) -> dict[int, PullBatch]:
    """Pull requests whose own commits (not on the base) carry batch_id."""
    return {number: by_batch[batch_id]
            for number, by_batch in pull_batches(repo, cfg, base_tip, pulls).items()
            if batch_id in by_batch}


def check_not_shallow(repo: RepoInfo) -> None:
    if repo.shallow:
        raise RepositoryError(
            f"{repo.path}: shallow clone: history before the shallow boundary is missing, so "
            "batch membership and earlier file versions cannot be known.",
            hint="run 'git fetch --unshallow' (and fetch the pull request refs) first",
        )


# Without the index, later edits are named only when the range since the batch is short: a
# path-limited walk costs a tree diff per commit, which over a registry's whole history takes
# many times a plain `git log`. Past that, show lists the files whose
# version at the base differs from the batch's and says the commits need the index.
COLD_LATER_EDIT_LIMIT = 1000


class NeedsIndex(Exception):
    """The batch's commits are on in-flight refs: which base commits landed them, file by file,
    only the history index works out."""


def cold_report(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str,
                refs: dict[str, str]) -> BatchReport | None:
    """One batch's report straight from git, without the index (about one `git log`), for a
    batch whose commits name it on the base; refs: the in-flight refs. NeedsIndex when some of
    its commits are only on in-flight refs."""
    # One walk over the base finds the batch's own commits, its reverts and reapplies, and the
    # commits that may squash a pull request ("(#N)"), without their changes (a squash of a
    # large batch is a costly tree diff); the pull requests are walked meanwhile.
    walk = process.start("log", "--topo-order", LOG_FORMAT, "-z", "--fixed-strings",
                         f"--grep={batch_id}", "--grep=(#", base_tip, "--", repo=repo.path)
    try:
        if batch_id in offbase.read_offbase(repo, cfg, base_tip, refs).carriers:
            raise NeedsIndex(batch_id)
        carried: dict[int, PullBatch] = {}
        landed = _landed(repo, cfg, base_tip, batch_id)
        found = list(parse_log(walk.result().stdout))
    finally:
        walk.kill()
    classifier = Classifier(cfg)
    wanted: dict[str, tuple[Record, Classified]] = {}
    for rec in found:
        c = classifier.classify(rec.message, rec.info.subject)
        if c is not None and (any(b == batch_id for b, _s, _d in c.members) or c.pull in carried
                              or any(b == batch_id for _k, b in c.events)):
            wanted[rec.info.oid] = (rec, c)
    for oid, rec in landed.items():
        if oid not in wanted:
            wanted[oid] = (rec, classifier.classify(rec.message, rec.info.subject)
                           or Classified((), (), (), None))
    if not wanted:
        return None
    changes = _changes_of(repo, list(wanted))
    # the walk's topological order, newest first; committer times order the landings among them
    order = {r.info.oid: (r.ctime, -pos) for pos, (r, _c) in enumerate(wanted.values())}
    members: list[Member] = []
    events: list[Event] = []
    ecosystems: list[str] = []
    for seq, oid in enumerate(sorted(wanted, key=order.__getitem__), start=1):
        rec, c = wanted[oid]
        member = next(((src, d) for b, src, d in c.members if b == batch_id), None)
        if member:
            ecosystems.extend(c.ecosystems)
        elif c.pull in carried:
            member = (SOURCE_PULL, f"#{c.pull}")
            ecosystems.extend(carried[c.pull].ecosystems)
        elif oid in landed:
            member = (SOURCE_LEDGER, "git batch land")
        if member:
            members.append(Member(rec.info, seq, member[0], member[1], changes[oid]))
        for kind, bid in c.events:
            if bid == batch_id:
                events.append(Event(kind, rec.info, seq, tuple(ch.path for ch in changes[oid])))
    if not members:
        return None
    later, complete = later_edits(repo, cfg, base_tip, members)
    report = build_report(batch_id, members=members, events=events, later_edits=later,
                          ecosystems=ecosystems, is_managed=cfg.is_managed)
    if complete:
        return report
    return report._replace(later_complete=False,
                           changed_since=changed_since(repo, cfg, base_tip, members))


def _changes_of(repo: RepoInfo, oids: list[str]) -> dict[str, tuple[Change, ...]]:
    """The first-parent changes of each commit, in one `git log --no-walk --stdin`."""
    data = process.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, *LOG_DIFF,
                       repo=repo.path, stdin=("\n".join(oids) + "\n").encode()).stdout
    return {r.info.oid: r.changes for r in parse_log(data)}


def _landed(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str) -> dict[str, Record]:
    """Commits on the base recorded for batch_id on the verified ops branch (`git batch land`)."""
    try:
        oids = trust.read_landings(repo, cfg).get(batch_id, ())
    except GitopsError as exc:  # untrusted or corrupt ops state: history must not trust it
        sys.stderr.write(f"git-batch: landings on the ops branch ignored: {exc.message}\n")
        return {}
    on_base = [o for o in oids if plumbing.is_ancestor(repo.path, Oid(o), base_tip)]
    if not on_base:
        return {}
    data = process.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, *LOG_DIFF,
                      repo=repo.path, stdin=("\n".join(on_base) + "\n").encode()).stdout
    return {r.info.oid: r for r in parse_log(data)}


def _last_touches(cfg: Config, members: list[Member]) -> dict[str, str]:
    """Managed path -> the last member commit that touched it."""
    post: dict[str, str] = {}
    for m in sorted(members, key=lambda m: m.seq):
        for ch in m.changes:
            if cfg.is_managed(ch.path):
                post[ch.path] = m.commit.oid
    return post


def changed_since(repo: RepoInfo, cfg: Config, base_tip: Oid, members: list[Member]
                  ) -> tuple[str, ...]:
    """Managed paths of the batch whose version at the base differs from the batch's last one
    (used when the later edits are not named)."""
    post = _last_touches(cfg, members)
    paths = sorted(post)
    lines = "".join(f"{post[p]}:{p}\n{base_tip}:{p}\n" for p in paths)
    out = process.run("cat-file", "--batch-check=%(objectname)", repo=repo.path,
                      stdin=lines.encode()).text.splitlines()
    return tuple(p for i, p in enumerate(paths) if out[2 * i] != out[2 * i + 1])


def known_ids(repo: RepoInfo, cfg: Config, base_tip: Oid) -> set[str]:
    """Every batch id named by trailers or legacy lines on the base branch (error path only)."""
    keys = [cfg.batch.trailer_key, *cfg.batch.legacy_keys]
    greps = [f"--grep={k}:" for k in keys]
    data = process.run("log", LOG_FORMAT, "-z", "--regexp-ignore-case", "--fixed-strings", *greps,
                      base_tip, "--", repo=repo.path).stdout
    classifier = Classifier(cfg)
    found: set[str] = set()
    for rec in parse_log(data):
        c = classifier.classify(rec.message, rec.info.subject)
        if c:
            found.update(b for b, _s, _d in c.members)
    return found


def later_edits(repo: RepoInfo, cfg: Config, base_tip: Oid, members: list[Member]
                ) -> tuple[list[LaterEdit], bool]:
    """Non-merge commits after the batch's first commit (not its ancestors) that touch its
    managed paths, and whether the list is complete (see COLD_LATER_EDIT_LIMIT)."""
    first = min(members, key=lambda m: m.seq)
    post = _last_touches(cfg, members)
    if not post:
        return [], True
    # Merges are left out as in Index.report (the side branch's commits are the edits).
    # `base ^first` makes git walk down to first before it answers, most of the history for an
    # old batch; commits dated after first stream from the tip instead, and more than the limit
    # of them means the range is longer than the limit too (short of clock skew, which only
    # costs the names of the later edits, never a wrong one).
    since = f"--since={first.commit.time}"
    recent = process.run("rev-list", "--no-merges", f"--max-count={COLD_LATER_EDIT_LIMIT + 1}",
                         since, base_tip, repo=repo.path).text.split()
    if len(recent) > COLD_LATER_EDIT_LIMIT:
        return [], False
    revs = process.run("rev-list", "--no-merges", f"--max-count={COLD_LATER_EDIT_LIMIT + 1}",
                       base_tip, f"^{first.commit.oid}", repo=repo.path).text.split()
    if len(revs) > COLD_LATER_EDIT_LIMIT:
        return [], False
    if not revs:
        return [], True
    diff = process.run(
        "diff-tree", "--stdin", "-r", "--name-status", "-z", "--no-renames", "--root",
        "--", *sorted(post),
        repo=repo.path, stdin=("\n".join(revs) + "\n").encode(),
        env=process.git_env(extra={"GIT_LITERAL_PATHSPECS": "1"}),
    ).stdout
    touched: dict[str, list[str]] = {}
    tokens = diff.split(b"\0")
    current = ""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if len(tok) == 1 and tok in CHANGE_STATUSES and i + 1 < len(tokens):
            touched.setdefault(current, []).append(decode(tokens[i + 1]))
            i += 2
        else:
            if len(tok) == 40:
                current = decode(tok)
            i += 1
    if not touched:
        return [], True
    infos = commit_infos(repo, list(touched))
    return [LaterEdit(p, infos[oid]) for oid, ps in touched.items() for p in ps], True


def commit_infos(repo: RepoInfo, oids: list[str]) -> dict[str, CommitInfo]:
    data = process.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, "-z",
                      repo=repo.path, stdin=("\n".join(oids) + "\n").encode()).stdout
    return {r.info.oid: r.info for r in parse_log(data)}
