"""Read-only history queries through git: walk the base branch, classify commits, find batches.

This is the cold path (no index) and the feeder of the index. One `git log` process streams every
commit with its first-parent changes; messages are classified in Python with `trailers`, which is
differential-tested against `git interpret-trailers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitops import gitcli, trailers
from gitops.config import Config, pull_prefix, pull_ref_regex
from gitops.errors import RepositoryError
from gitops.gitcli import Oid
from gitops.history import (
    PULL_SUBJECT,
    REAPPLIES_BATCH,
    REVERTS_BATCH,
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

# One record per commit: \x1e starts it, NUL separates fields, the message is the last field.
# With -z, git ends the format with a NUL and starts the name-status list with a newline.
LOG_FORMAT = "--format=%x1e%H%x00%P%x00%an%x00%ae%x00%at%x00%B%x00"
LOG_DIFF = ("--name-status", "-z", "--no-renames", "--diff-merges=first-parent")
_STATUS = frozenset({b"A", b"M", b"D", b"T", b"U", b"X"})


@dataclass(frozen=True)
class Record:
    info: CommitInfo
    message: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Classified:
    """What one commit message says about batches."""

    members: tuple[tuple[str, str, str], ...]  # (batch_id, source, detail)
    events: tuple[tuple[str, str], ...]  # (kind, batch_id)
    ecosystems: tuple[str, ...]
    pull: int | None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_log(data: bytes) -> Iterator[Record]:
    """Records from `git log LOG_FORMAT [LOG_DIFF]` output."""
    tokens = data.split(b"\0")
    i = 0
    n = len(tokens)
    while i < n:
        head = tokens[i]
        if not head.startswith(b"\x1e"):
            i += 1
            continue
        if i + 6 > n:
            break
        oid = _decode(head[1:])
        parents = tuple(_decode(tokens[i + 1]).split())
        author, email = _decode(tokens[i + 2]), _decode(tokens[i + 3])
        time = int(tokens[i + 4] or b"0")
        message = _decode(tokens[i + 5])
        i += 6
        changes: list[Change] = []
        # the empty token closing the format, then (status, path) pairs until the next record
        if i < n and tokens[i] == b"":
            i += 1
        while i + 1 < n:
            status = tokens[i].lstrip(b"\n")
            if status[:1] not in _STATUS or tokens[i].startswith(b"\x1e"):
                break
            changes.append(Change(_decode(status[:1]), _decode(tokens[i + 1])))
            i += 2
        subject = message.split("\n", 1)[0].strip()
        info = CommitInfo(oid, parents, author, email, time, subject)
        yield Record(info, message, tuple(changes))


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


@dataclass(frozen=True)
class RepoInfo:
    path: Path  # where git runs (work tree or git dir)
    git_dir: Path
    common_dir: Path
    work_tree: Path | None
    shallow: bool


def open_repository(path: Path) -> RepoInfo:
    """Describe the repository at path; RepositoryError when it is not one."""
    if not path.exists():
        raise RepositoryError(f"{path}: no such directory.", hint="pass an existing path to --repo")
    res = gitcli.run(
        "rev-parse", "--absolute-git-dir", "--git-common-dir", "--is-bare-repository",
        "--is-shallow-repository", repo=path, ok=frozenset({0, 128}),
    )
    if res.returncode != 0:
        raise RepositoryError(
            f"{path}: not a git repository (or any parent up to a ceiling directory).",
            hint="run inside a repository or pass --repo PATH",
        )
    git_dir_s, common_s, bare_s, shallow_s = res.text.splitlines()[:4]
    git_dir = Path(git_dir_s)
    common = Path(common_s) if Path(common_s).is_absolute() else (path / common_s).resolve()
    work_tree = None
    if bare_s != "true":
        top = gitcli.run("rev-parse", "--show-toplevel", repo=path, ok=frozenset({0, 128}))
        if top.returncode == 0 and top.text.strip():
            work_tree = Path(top.text.strip())
    return RepoInfo(path, git_dir, common.resolve(), work_tree, shallow_s == "true")


def resolve_base(repo: RepoInfo, cfg: Config) -> tuple[str, Oid]:
    """(full ref name, commit id) of the base branch; RepositoryError when it is missing."""
    name = cfg.repo.base_branch
    if not name:
        res = gitcli.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", repo=repo.path,
                         ok=frozenset({0, 1, 128}))
        candidates = [res.text.strip()] if res.returncode == 0 else []
        candidates += ["refs/heads/main", "HEAD"]
    else:
        candidates = [name]
    for cand in candidates:
        if not cand:
            continue
        oid = gitcli.resolve_commit(repo.path, cand)
        if oid is None:
            continue
        full = gitcli.run("rev-parse", "--verify", "--symbolic-full-name", "--end-of-options", cand,
                          repo=repo.path, ok=frozenset({0, 128})).text.strip()
        return (full or cand), oid
    if name:
        raise RepositoryError(
            f"base branch '{name}' does not exist in {repo.path}.",
            hint="fetch it, or set repo.base_branch in .git-batch.toml (or pass --base)",
        )
    raise RepositoryError(
        f"{repo.path}: no base branch: origin/HEAD, main and HEAD do not name a commit.",
        hint="commit something first, or set repo.base_branch in .git-batch.toml",
    )


def list_pulls(repo: RepoInfo, cfg: Config) -> dict[str, str]:
    """Pull request head refs (name -> commit id) matching the configured pattern."""
    res = gitcli.run("for-each-ref", "--format=%(objectname) %(refname)", "--end-of-options",
                     pull_prefix(cfg), repo=repo.path)
    regex = pull_ref_regex(cfg)
    out = {}
    for line in res.text.splitlines():
        oid, _, name = line.partition(" ")
        if regex.match(name):
            out[name] = oid
    return out


@dataclass(frozen=True)
class PullBatch:
    commits: tuple[str, ...]  # the pull request's commits carrying the batch id
    ecosystems: tuple[str, ...]


def pull_batches(repo: RepoInfo, cfg: Config, base_tip: str, pulls: dict[str, str],
                 batch_id: str | None = None) -> dict[int, dict[str, PullBatch]]:
    """PR number -> batch id -> what carries it; PR commits are `head --not base`."""
    if not pulls:
        return {}
    stdin = "".join(f"{oid}\n" for oid in sorted(set(pulls.values()))) + f"^{base_tip}\n"
    args = ["log", LOG_FORMAT, "-z", "--stdin"]
    graph_res = gitcli.run("rev-list", "--parents", "--stdin", repo=repo.path,
                           stdin=stdin.encode())
    parents: dict[str, list[str]] = {}
    for line in graph_res.text.splitlines():
        oid, *ps = line.split()
        parents[oid] = ps
    if not parents:
        return {}
    if batch_id is not None:
        args[2:2] = ["--fixed-strings", f"--grep={batch_id}"]
    data = gitcli.run(*args, repo=repo.path, stdin=stdin.encode()).stdout
    classifier = Classifier(cfg)
    carriers: dict[str, set[str]] = {}
    ecosystems: dict[str, tuple[str, ...]] = {}
    for rec in parse_log(data):
        c = classifier.classify(rec.message, rec.info.subject)
        if c:
            for bid, _src, _detail in c.members:
                carriers.setdefault(rec.info.oid, set()).add(bid)
            ecosystems[rec.info.oid] = c.ecosystems
    regex = pull_ref_regex(cfg)
    result: dict[int, dict[str, PullBatch]] = {}
    for name, head in pulls.items():
        match = regex.match(name)
        if not match or head not in parents:
            continue
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
            result[int(match.group(1))] = {
                b: PullBatch(tuple(sorted(v)),
                             tuple(sorted({e for o in v for e in ecosystems.get(o, ())})))
                for b, v in found.items()
            }
    return result


def check_not_shallow(repo: RepoInfo) -> None:
    if repo.shallow:
        raise RepositoryError(
            f"{repo.path}: shallow clone: history before the shallow boundary is missing, so "
            "batch membership and earlier file versions cannot be known.",
            hint="run 'git fetch --unshallow' (and fetch the pull request refs) first",
        )


def cold_report(repo: RepoInfo, cfg: Config, base_tip: Oid, batch_id: str) -> BatchReport | None:
    """One batch's report straight from git, without the index (about one `git log`)."""
    pulls = list_pulls(repo, cfg)
    carried = {n: by_batch[batch_id]
               for n, by_batch in pull_batches(repo, cfg, base_tip, pulls, batch_id).items()
               if batch_id in by_batch}
    carrying = set(carried)
    args = ["log", "--topo-order", LOG_FORMAT, *LOG_DIFF]
    if carrying:
        alternatives = "|".join(str(n) for n in sorted(carrying))
        args += ["--extended-regexp", f"--grep={_ere_escape(batch_id)}",
                 f"--grep=\\(#({alternatives})\\)[[:space:]]*$"]
    else:
        args += ["--fixed-strings", f"--grep={batch_id}"]
    data = gitcli.run(*args, base_tip, "--", repo=repo.path).stdout
    classifier = Classifier(cfg)
    members: list[Member] = []
    events: list[Event] = []
    ecosystems: list[str] = []
    records = list(parse_log(data))
    for pos, rec in enumerate(records):
        seq = len(records) - pos
        c = classifier.classify(rec.message, rec.info.subject)
        if c is None:
            continue
        member = next(((src, d) for b, src, d in c.members if b == batch_id), None)
        if member is None and c.pull in carried:
            member = (SOURCE_PULL, f"#{c.pull}")
            ecosystems.extend(carried[c.pull].ecosystems)
        if member:
            members.append(Member(rec.info, seq, member[0], member[1], rec.changes))
            ecosystems.extend(c.ecosystems)
        for kind, bid in c.events:
            if bid == batch_id:
                events.append(Event(kind, rec.info, seq, tuple(ch.path for ch in rec.changes)))
    if not members:
        return None
    first = min(members, key=lambda m: m.seq)
    paths = sorted({ch.path for m in members for ch in m.changes if cfg.is_managed(ch.path)})
    later = later_edits(repo, base_tip, Oid(first.commit.oid), paths)
    return build_report(batch_id, members=members, events=events, later_edits=later,
                        ecosystems=ecosystems, is_managed=cfg.is_managed)


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


def _ere_escape(text: str) -> str:
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", text)


def later_edits(repo: RepoInfo, base_tip: Oid, first: Oid, paths: list[str]) -> list[LaterEdit]:
    """Non-merge commits after `first` (not its ancestors) whose change touches paths."""
    if not paths:
        return []
    # Merges are left out as in Index.report: the side branch's commits are the edits.
    revs = gitcli.run("rev-list", "--no-merges", base_tip, f"^{first}", repo=repo.path).text
    pairs = revs.split()
    if not pairs:
        return []
    diff = gitcli.run(
        "diff-tree", "--stdin", "-r", "--name-status", "-z", "--no-renames", "--root",
        "--", *paths,
        repo=repo.path, stdin=("\n".join(pairs) + "\n").encode(),
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
        return []
    infos = commit_infos(repo, list(touched))
    return [LaterEdit(p, infos[oid]) for oid, ps in touched.items() for p in ps]


def commit_infos(repo: RepoInfo, oids: list[str]) -> dict[str, CommitInfo]:
    data = gitcli.run("log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, "-z",
                      repo=repo.path, stdin=("\n".join(oids) + "\n").encode()).stdout
    return {r.info.oid: r.info for r in parse_log(data)}
