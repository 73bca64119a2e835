"""Read-only history queries through git: walk the base branch, classify commits, find batches.

This is the cold path (no index) and the feeder of the index. One `git log` process streams every
commit with its first-parent changes; messages are classified in Python with `trailers`, which is
differential-tested against `git interpret-trailers`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from gitops import gitcli, trailers
from gitops.config import Config, pull_prefix, pull_ref_regex
from gitops.errors import RepositoryError
from gitops.gitcli import LOG_DIFF, LOG_FORMAT, Oid
from gitops.history import (
    PULL_SUBJECT,
    REAPPLIES_BATCH,
    REVERTS_BATCH,
    SOURCE_LEDGER,
    SOURCE_LEGACY,
    SOURCE_PULL,
    SOURCE_TRAILER,
    BatchReport,
    Change,
    CommitInfo,
    Event,
    LaterEdit,
    Member,
    build_report,
)
from gitops.records import NamedTuple
from gitops.repoinfo import RepoInfo, ref_reader

_STATUS = frozenset({b"A", b"M", b"D", b"T", b"U", b"X"})


class Record(NamedTuple):
    info: CommitInfo
    message: str
    changes: tuple[Change, ...]
    ctime: int  # committer time: orders commits found by separate walks


class Classified(NamedTuple):
    """What one commit message says about batches."""

    members: tuple[tuple[str, str, str], ...]  # (batch_id, source, detail)
    events: tuple[tuple[str, str], ...]  # (kind, batch_id)
    ecosystems: tuple[str, ...]
    pull: int | None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_log(data: bytes) -> Iterator[Record]:
    """Records from `git log LOG_FORMAT [LOG_DIFF]` output."""
    records, _used = _parse_tokens(data.split(b"\0"), final=True)
    return iter(records)


def parse_log_stream(chunks: Iterable[bytes]) -> Iterator[Record]:
    """The records of parse_log(b"".join(chunks)), each as soon as the bytes after it arrive.

    Parsing is by position, as in parse_log, never by searching for a separator, so no message
    or path can make a record end early; a record is complete once the token after its change
    list (the next record's start) is there.
    """
    tokens: list[bytes] = []
    partial = b""
    for chunk in chunks:
        parts = (partial + chunk).split(b"\0")
        partial = parts.pop()  # after the last NUL: not a whole token yet
        tokens += parts
        if not any(t[:1] == b"\x1e" for t in parts):
            continue  # no record started: none ended either (a long change list goes on)
        records, used = _parse_tokens(tokens, final=False)
        del tokens[:used]
        yield from records
    tokens.append(partial)
    records, _used = _parse_tokens(tokens, final=True)
    yield from records


def _parse_tokens(tokens: list[bytes], *, final: bool) -> tuple[list[Record], int]:
    """Records from NUL-separated tokens, and how many tokens they used. Unless final, a record
    whose change list may go on in tokens not read yet is left for the next call."""
    out: list[Record] = []
    i = used = 0
    n = len(tokens)
    while i < n:
        head = tokens[i]
        if not head.startswith(b"\x1e"):
            i += 1
            used = i
            continue
        if i + 7 > n:
            break
        j = i + 7
        # the empty token closing the format, then (change, path) pairs until the next record:
        # ":<old mode> <new mode> <old id> <new id> <status>" with --raw, "<status>" with
        # --name-status (both parsed: callers may pass either)
        if j < n and tokens[j] == b"":
            j += 1
        changes: list[Change] = []
        ended = False
        while j < n:
            tok = tokens[j]
            if tok.startswith(b"\x1e"):
                ended = True
                break
            if j + 1 == n:
                break  # a change whose path is not there (yet), or the closing empty token
            tok = tok.lstrip(b"\n")
            if tok.startswith(b":"):
                status = tok[tok.rfind(b" ") + 1:][:1]  # the last field (a score may follow)
                changes.append(Change(_decode(status), _decode(tokens[j + 1]), tok))
            elif tok[:1] in _STATUS:
                changes.append(Change(_decode(tok[:1]), _decode(tokens[j + 1])))
            else:
                ended = True
                break
            j += 2
        if not (ended or final):
            break
        message = _decode(tokens[i + 6])
        info = CommitInfo(_decode(head[1:]), tuple(_decode(tokens[i + 1]).split()),
                          _decode(tokens[i + 2]), _decode(tokens[i + 3]),
                          int(tokens[i + 4] or b"0"), message.split("\n", 1)[0].strip())
        out.append(Record(info, message, tuple(changes), int(tokens[i + 5] or b"0")))
        i = used = j
    return out, used


class Classifier:
    """Classifies commit messages for one configuration; cheap pre-filter before parsing."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.id_regex = cfg.id_regex
        keys = [cfg.batch.trailer_key, *cfg.batch.legacy_keys, REVERTS_BATCH, REAPPLIES_BATCH]
        self._needles = tuple(k.lower() for k in keys)

    def classify(self, message: str, subject: str) -> Classified | None:
        pull_match = PULL_SUBJECT.search(subject)
        pull = int(pull_match.group(1)) if pull_match else None
        lowered = message.lower()
        if not any(needle in lowered for needle in self._needles):
            return Classified((), (), (), pull) if pull is not None else None
        refs = trailers.find_batch_refs(
            message,
            key=self.cfg.batch.trailer_key,
            legacy_keys=self.cfg.batch.legacy_keys,
            id_regex=self.id_regex,
        )
        members = tuple(
            (r.batch_id, SOURCE_TRAILER if r.form == "trailer" else SOURCE_LEGACY, r.key)
            for r in refs
        )
        parsed = trailers.parse(message)
        events: list[tuple[str, str]] = []
        for kind, key in (("revert", REVERTS_BATCH), ("reapply", REAPPLIES_BATCH)):
            for value in trailers.values(parsed, key):
                if self.id_regex.fullmatch(value):
                    events.append((kind, value))
        ecosystems = tuple(trailers.values(parsed, self.cfg.batch.ecosystem_trailer))
        if not members and not events and pull is None:
            return None
        return Classified(members, tuple(events), ecosystems if members else (), pull)


def list_pulls(repo: RepoInfo, cfg: Config) -> dict[str, str]:
    """Pull request head refs (name -> commit id) matching the configured pattern; read from the
    ref files when the repository keeps them as files (every lookup and hook asks this)."""
    reader = ref_reader(repo)
    if reader is not None:
        found = reader.list(cfg.repo.pull_ref_pattern)
    else:
        res = gitcli.run("for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options",
                         pull_prefix(cfg), repo=repo.path)
        found = {name: oid for oid, _, name in (line.partition(" ")
                                                for line in res.text.splitlines())}
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
    data = gitcli.run("log", LOG_FORMAT, "-z", "--stdin", repo=repo.path,
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
    """Pull requests whose own commits (not on the base) carry batch_id: a grep, then
    `for-each-ref --contains` for the few commits found (cheap: no graph of every PR)."""
    if not pulls:
        return {}
    data = gitcli.run("log", LOG_FORMAT, "-z", "--fixed-strings", f"--grep={batch_id}",
                      "--stdin", repo=repo.path, stdin=_pull_stdin(pulls, base_tip)).stdout
    carriers, ecosystems, _parents = _carriers(cfg, parse_log(data))
    found = sorted(oid for oid, ids in carriers.items() if batch_id in ids)
    if not found:
        return {}
    regex = pull_ref_regex(cfg)
    res = gitcli.run("for-each-ref", "--format=%(refname)", *(f"--contains={o}" for o in found),
                     "--end-of-options", pull_prefix(cfg), repo=repo.path)
    ecos = tuple(sorted({e for o in found for e in ecosystems.get(o, ())}))
    out: dict[int, PullBatch] = {}
    for name in res.text.split():
        match = regex.match(name)
        if match and name in pulls:
            out[int(match.group(1))] = PullBatch(tuple(found), ecos)
    return out


def check_not_shallow(repo: RepoInfo) -> None:
    if repo.shallow:
        raise RepositoryError(
            f"{repo.path}: shallow clone: history before the shallow boundary is missing, so "
            "batch membership and earlier file versions cannot be known.",
            hint="run 'git fetch --unshallow' (and fetch the pull request refs) first",
        )


# Without the index, later edits are named only when the range since the batch is short: a
# path-limited walk costs a tree diff per commit (29 s over 100k commits of a registry with
# 2,700-entry directories, measured with bench/query.py). Past that, show lists the files whose
# version at the base differs from the batch's and says the commits need the index.
COLD_LATER_EDIT_LIMIT = 1000


# Below this many commits one walk costs less than finding where to split it (commitgraph.py).
SPLIT_WALK_MIN = 20_000


def walk_split(repo: RepoInfo, tip: Oid) -> Oid | None:
    """A commit about halfway down tip's history (in git's date order), when a commit-graph
    makes it cheap to find and the history is long enough to gain from two walks; else None."""
    from gitops import commitgraph  # noqa: PLC0415

    count = commitgraph.commit_count(os.path.join(repo.common_dir, "objects"))
    if count is None or count < SPLIT_WALK_MIN:
        return None
    skip = gitcli.spawn("rev-list", "--max-count=1", f"--skip={count // 2}", tip, repo=repo.path)
    # core.commitGraph=false: git ignores the graph, and the skip costs a parse of every commit
    enabled = gitcli.run("config", "--type=bool", "--get", "core.commitgraph", repo=repo.path,
                         ok=frozenset({0, 1}))
    if enabled.text.strip() == "false":
        skip.kill()
        return None
    mid = skip.result().text.strip()
    return Oid(mid) if len(mid) == 40 else None  # empty: a graph larger than tip's history


def start_grep_walks(repo: RepoInfo, tip: Oid, batch_id: str) -> list[gitcli.Pending]:
    """`git log --grep` over tip's history as one process, or as two on two cores: `tip ^mid`
    and `mid` (see walk_split). Their outputs, in this order, are one topological order: no
    commit of the first is an ancestor of mid, every commit of the second is one."""
    walk = ("log", "--topo-order", LOG_FORMAT, *LOG_DIFF, "--fixed-strings", f"--grep={batch_id}")
    mid = walk_split(repo, tip)
    if mid is None:
        return [gitcli.start(*walk, tip, "--", repo=repo.path)]
    return [gitcli.start(*walk, tip, f"^{mid}", "--", repo=repo.path),
            gitcli.start(*walk, mid, "--", repo=repo.path)]


def cold_report(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str) -> BatchReport | None:
    """One batch's report straight from git, without the index (about one `git log`)."""
    # The base walk runs (in two halves, on a long history) while the pull request walk runs.
    base_walks = start_grep_walks(repo, base_tip, batch_id)
    # With one walk, the other core lists the graph meanwhile, so that the later edits need no
    # walk of their own afterwards (commits_after; without a commit-graph that walk parses
    # every commit again: 0.7 s on the 200k demo).
    listing = (gitcli.start("rev-list", "--topo-order", "--parents", base_tip, repo=repo.path)
               if len(base_walks) == 1 else None)
    try:
        return _cold_report(repo, cfg, base_tip, batch_id, base_walks=base_walks,
                            listing=listing)
    finally:
        for job in (*base_walks, *([listing] if listing else [])):
            job.kill()  # on an error or without members; otherwise they are done


def _cold_report(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str, *,
                 base_walks: list[gitcli.Pending], listing: gitcli.Pending | None
                 ) -> BatchReport | None:
    pulls = list_pulls(repo, cfg)
    carried = pulls_carrying(repo, cfg, base_tip, pulls, batch_id)
    heads = {n: oid for oid, ns in _pull_numbers(cfg, pulls).items() for n in ns}
    squashes: list[Record] = []
    for number in sorted(carried):
        # The squash commit is newer than the PR's fork point: walk only `base ^head`.
        squashes += parse_log(gitcli.run(
            "log", "--topo-order", LOG_FORMAT, *LOG_DIFF, "--extended-regexp",
            f"--grep=\\(#{number}\\)[[:space:]]*$", base_tip, f"^{heads[number]}", "--",
            repo=repo.path).stdout)
    landed = _landed(repo, cfg, base_tip, batch_id)
    records = [rec for walk in base_walks for rec in parse_log(walk.result().stdout)]
    seen = {r.info.oid for r in records}
    for extra in (*squashes, *landed.values()):
        if extra.info.oid not in seen:
            records.append(extra)
            seen.add(extra.info.oid)
    order = {r.info.oid: (r.ctime, -pos) for pos, r in enumerate(records)}
    records.sort(key=lambda r: order[r.info.oid])
    classifier = Classifier(cfg)
    members: list[Member] = []
    events: list[Event] = []
    ecosystems: list[str] = []
    for seq, rec in enumerate(records, start=1):
        c = classifier.classify(rec.message, rec.info.subject) or Classified((), (), (), None)
        member = next(((src, d) for b, src, d in c.members if b == batch_id), None)
        if member:
            ecosystems.extend(c.ecosystems)
        elif c.pull in carried:
            member = (SOURCE_PULL, f"#{c.pull}")
            ecosystems.extend(carried[c.pull].ecosystems)
        elif rec.info.oid in landed:
            member = (SOURCE_LEDGER, "git batch land")
        if member:
            members.append(Member(rec.info, seq, member[0], member[1], rec.changes))
        for kind, bid in c.events:
            if bid == batch_id:
                events.append(Event(kind, rec.info, seq, tuple(ch.path for ch in rec.changes)))
    if not members:
        return None
    # Asked while the later-edit walk runs; used only when that range is too long to name.
    since = ChangedSince(repo, cfg, base_tip, members)
    try:
        later, complete = later_edits(repo, cfg, base_tip, members, listing)
        report = build_report(batch_id, members=members, events=events, later_edits=later,
                              ecosystems=ecosystems, is_managed=cfg.is_managed)
        if complete:
            return report
        return report._replace(later_complete=False, changed_since=since.result())
    finally:
        since.discard()


def _landed(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str) -> dict[str, Record]:
    """Commits on the base recorded for batch_id on the verified ops branch (`git batch land`)."""
    import sys  # noqa: PLC0415

    from gitops import ops  # noqa: PLC0415
    from gitops.errors import GitopsError  # noqa: PLC0415

    try:
        oids = ops.read_landings(repo, cfg).get(batch_id, ())
    except GitopsError as exc:  # untrusted or corrupt ops state: history must not trust it
        sys.stderr.write(f"git-batch: landings on the ops branch ignored: {exc.message}\n")
        return {}
    on_base = [o for o in oids if gitcli.is_ancestor(repo.path, Oid(o), base_tip)]
    if not on_base:
        return {}
    data = gitcli.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, *LOG_DIFF,
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


class ChangedSince:
    """Managed paths of the batch whose version at the base differs from the batch's last one
    (one cat-file process, started at once; used when later edits are not named)."""

    def __init__(self, repo: RepoInfo, cfg: Config, base_tip: Oid, members: list[Member]
                 ) -> None:
        post = _last_touches(cfg, members)
        self.paths = sorted(post)
        lines = "".join(f"{post[p]}:{p}\n{base_tip}:{p}\n" for p in self.paths)
        self._check = gitcli.spawn("cat-file", "--batch-check=%(objectname)", repo=repo.path,
                                   stdin=lines.encode())

    def result(self) -> tuple[str, ...]:
        out = self._check.result().text.splitlines()
        return tuple(p for i, p in enumerate(self.paths) if out[2 * i] != out[2 * i + 1])

    def discard(self) -> None:
        self._check.kill()  # after result(): nothing left to stop


def known_ids(repo: RepoInfo, cfg: Config, base_tip: Oid) -> set[str]:
    """Every batch id named by trailers or legacy lines on the base branch (error path only)."""
    keys = [cfg.batch.trailer_key, *cfg.batch.legacy_keys]
    greps = [f"--grep={k}:" for k in keys]
    data = gitcli.run("log", LOG_FORMAT, "-z", "--regexp-ignore-case", "--fixed-strings", *greps,
                      base_tip, "--", repo=repo.path).stdout
    classifier = Classifier(cfg)
    found: set[str] = set()
    for rec in parse_log(data):
        c = classifier.classify(rec.message, rec.info.subject)
        if c:
            found.update(b for b, _s, _d in c.members)
    return found


def later_edits(repo: RepoInfo, cfg: Config, base_tip: Oid, members: list[Member],
                listing: gitcli.Pending | None = None) -> tuple[list[LaterEdit], bool]:
    """Non-merge commits after the batch's first commit (not its ancestors) that touch its
    managed paths, and whether the list is complete (see COLD_LATER_EDIT_LIMIT).

    listing: `git rev-list --topo-order --parents base_tip`, started earlier (commits_after)."""
    first = min(members, key=lambda m: m.seq)
    post = _last_touches(cfg, members)
    if not post:
        return [], True
    # Merges are left out as in Index.report (the side branch's commits are the edits).
    after = (commits_after(listing.result().stdout, first.commit.oid, COLD_LATER_EDIT_LIMIT)
             if listing is not None else None)
    if after is None:
        # --max-count: past the limit only "more" matters (git still settles the range first)
        revs = gitcli.run("rev-list", "--no-merges", f"--max-count={COLD_LATER_EDIT_LIMIT + 1}",
                          base_tip, f"^{first.commit.oid}", repo=repo.path).text.split()
    else:
        revs = after
    if len(revs) > COLD_LATER_EDIT_LIMIT:
        return [], False
    if not revs:
        return [], True
    diff = gitcli.run(
        "diff-tree", "--stdin", "-r", "--name-status", "-z", "--no-renames", "--root",
        "--", *sorted(post),
        repo=repo.path, stdin=("\n".join(revs) + "\n").encode(),
        env=gitcli.git_env(extra={"GIT_LITERAL_PATHSPECS": "1"}),
    ).stdout
    touched: dict[str, list[str]] = {}
    tokens = diff.split(b"\0")
    current = ""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if len(tok) == 1 and tok in _STATUS and i + 1 < len(tokens):
            touched.setdefault(current, []).append(_decode(tokens[i + 1]))
            i += 2
        else:
            if len(tok) == 40:
                current = _decode(tok)
            i += 1
    if not touched:
        return [], True
    infos = commit_infos(repo, list(touched))
    return [LaterEdit(p, infos[oid]) for oid, ps in touched.items() for p in ps], True


def commits_after(listing: bytes, first: str, limit: int) -> list[str] | None:
    """The non-merge commits of `rev-list base_tip ^first`, worked out from listing (`git
    rev-list --topo-order --parents base_tip`); more than limit of them when that many are
    certain (the list is then cut short); None when first is not listed.

    In topological order every descendant of a commit comes before it and every ancestor after
    it, so the commits before first are all in the range: past the limit, nothing else needs
    reading. Otherwise first's ancestors are marked in one pass down the rest of the list, and
    the range is everything else.
    """
    lines = listing.split(b"\n")
    ids = [line[:40] for line in lines]
    key = first.encode()
    try:
        pos = ids.index(key)
    except ValueError:
        return None
    # a merge lists two or more parents: two or more spaces
    before = [i for i, line in zip(ids[:pos], lines[:pos], strict=True) if line.count(b" ") < 2]
    if len(before) > limit:
        return [i.decode() for i in before[:limit + 1]]
    ancestors = {key}
    for line in lines[pos:]:
        if line[:40] in ancestors:
            ancestors.update(line[41:].split())
    return [i.decode() for i, line in zip(ids, lines, strict=True)
            if i and i not in ancestors and line.count(b" ") < 2]


def commit_infos(repo: RepoInfo, oids: list[str]) -> dict[str, CommitInfo]:
    data = gitcli.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, "-z",
                      repo=repo.path, stdin=("\n".join(oids) + "\n").encode()).stdout
    return {r.info.oid: r.info for r in parse_log(data)}
