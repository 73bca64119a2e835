"""Open branches vs a revert: simulated merges (no checkout) and dependency checks.

`check()` answers "what happens to every open branch if this revert lands?":
1. The revert: `inflight ID` plans it with apply.prepare() and builds the revert commit in
   memory (an unreferenced object, never signed, no ref); `--revert-branch B` takes B's tip,
   merged (in memory too) with the base when the base moved on since B was cut.
2. The branches: refs matching repo.inflight_refs that the base does not reach, minus the base,
   the revert branch, the ops branch, symbolic refs and squash-merged pull requests; refs naming
   the same commit are one row. Each branch's own commits are read until they reach the base's
   history, which the history index lists (no history walk): their trailers, their age, and
   the base commits they sit on, whose independent ones are the merge bases.
   One `git diff-tree --stdin` gives what each branch changes since its merge base(s).
3. The merges: ONE `git merge-tree --write-tree --stdin` process runs base+branch (conflicts
   the branch already has) and revert+branch (conflicts after the revert) for every branch,
   the latter only where the pre-filter below cannot rule a difference out. Base and revert
   are handed to git as stand-in commits whose parents are the branch's merge bases (see
   _StandIns): same results, without a history walk per merge.
4. The verdict: judge() is pure, from the facts of one branch to one verdict; recipes the
   branch adds or changes are parsed (recipes.py) for dependencies on removed names.

The pre-filter. merge(revert, B) differs from merge(base, B) only through the paths the revert
changes (P), because the revert commit differs from the base only there and both merges share
the merge base M. Per path: where B leaves a path of P alone (B == M), both merges take their
own side cleanly. Renames are the catch: a rename pairs a deleted and an added path of one side,
and a directory rename moves the other side's new files. So the revert+branch merge runs
unless all of these hold, which keeps every pairing the same in both merges (checked against
running every merge on random histories with renames in tests/git/test_inflight.py):
- B changes no path of P;
- M is B's only merge base, and M and the base agree on every path B changes (B touches
  nothing the base changed since M, so no rename of the base's side involves B's files);
- no directory above a path of B is missing at the base or exists in only one of base and
  revert (a directory rename on the base's or the revert's side could move B's new files);
- no directory above a path of P is missing at B's tip (a directory B removed could move the
  revert's files).

Ref patterns: `*` matches any run of characters, '/' included, as in a refspec, so the default
`refs/heads/*` covers `refs/heads/fix/x`; a pattern without `*` names one ref.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from gitops import config, recipes
from gitops.config import Config, pull_ref_regex
from gitops.context import Context
from gitops.errors import ConfigError, GitopsError, MissingObject, RepositoryError, UsageError
from gitops.git import plumbing, process
from gitops.git.objects import Repo
from gitops.git.plumbing import MergeResult, RefTip
from gitops.git.process import Oid
from gitops.history import log, query
from gitops.history.index import Index
from gitops.revert import apply
from gitops.revert.plan import commit_message, tree_edits

# Verdicts, most severe first: the order of the table.
SAME_BATCH = "same-batch"
CONFLICT = "conflict"
DEPENDENCY_BREAK = "dependency-break"
UNREADABLE = "unreadable"
DUPLICATE = "duplicate"
TOUCHES = "touches-batch-files"
CLEAN = "clean"
VERDICTS = (SAME_BATCH, CONFLICT, DEPENDENCY_BREAK, UNREADABLE, DUPLICATE, TOUCHES, CLEAN)
# The verdicts that make `inflight` exit non-zero (InflightBreaks), so CI can gate on them.
BLOCKING = frozenset({SAME_BATCH, CONFLICT, DEPENDENCY_BREAK})

HINTS = {
    SAME_BATCH: "it carries the reverted batch: close it, do not merge it",
    CONFLICT: "merging it after the revert conflicts: have it rebased onto the revert first",
    DEPENDENCY_BREAK: "it needs a recipe the revert removes: drop that dependency, or keep the "
                      "recipe (revert --only the rest)",
    UNREADABLE: "a recipe on it does not parse, so its dependencies were not checked: fix the "
                "TOML at the line shown",
    DUPLICATE: "other open branches add or change the same recipes, or carry the same batch: "
               "keep one of them, close the others",
    TOUCHES: "it edits files of the reverted batch: check the edit still makes sense after the "
             "revert",
    CLEAN: "nothing to do",
}
# An unreadable branch whose objects are missing needs another fix than a recipe that does not
# parse.
MISSING_HINT = ("objects of it are missing from this repository (a mirror that lost them), so "
                "it was not checked: fetch it again from a complete clone")


# -- pure: facts of one branch -> verdict ------------------------------------------------------


class Conflict(NamedTuple):
    path: str
    kind: str  # content, add/add, modify/delete, rename/delete, file/directory, ...


class Break(NamedTuple):
    path: str  # the branch's recipe
    name: str  # its name
    missing: str  # the name it depends on that the revert removes


class Unreadable(NamedTuple):
    path: str
    line: int | None
    message: str


class Duplicate(NamedTuple):
    what: str  # a managed path, or "batch ID"
    refs: tuple[str, ...]  # the other open branches (their first ref) that add or change it too


class BranchFacts(NamedTuple):
    """Everything the verdict needs to know about one branch (one commit, several refs)."""

    refs: tuple[str, ...]
    tip: str
    batch_ids: tuple[str, ...]  # batch ids its own commits carry (trailer, legacy, reapply)
    changed: tuple[str, ...]  # paths it changes: merge base(s)..tip
    before: tuple[Conflict, ...]  # merging it into the base as it is
    after: tuple[Conflict, ...]  # merging it after the revert
    breaks: tuple[Break, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()
    after_merged: bool = True  # False: the pre-filter proved `after` equals `before`
    missing: str | None = None  # what git could not read of it: nothing else is known
    duplicates: tuple[Duplicate, ...] = ()


class Verdict(NamedTuple):
    refs: tuple[str, ...]
    tip: str
    verdict: str
    hint: str
    conflicts: tuple[Conflict, ...]  # caused by the revert
    pre_existing: tuple[Conflict, ...]  # the branch conflicts with the base already
    breaks: tuple[Break, ...]
    unreadable: tuple[Unreadable, ...]
    batch_files: tuple[str, ...]  # files of the reverted batch the branch changes
    batch_ids: tuple[str, ...]  # reverted batch ids the branch carries
    after_merged: bool
    missing: str | None = None
    duplicates: tuple[Duplicate, ...] = ()

    @property
    def blocking(self) -> bool:
        return self.verdict in BLOCKING


def judge(facts: BranchFacts, batch_ids: Iterable[str], batch_files: Iterable[str]) -> Verdict:
    """The verdict for one branch: the most severe finding wins (VERDICTS order).

    A conflict is the revert's doing only on a path that does not conflict without the revert;
    the branch's conflicts with the base as it is are reported as pre-existing whatever happens.
    """
    if facts.missing is not None:
        return Verdict(refs=facts.refs, tip=facts.tip, verdict=UNREADABLE, hint=MISSING_HINT,
                       conflicts=(), pre_existing=(), breaks=(), unreadable=(), batch_files=(),
                       batch_ids=(), after_merged=False, missing=facts.missing)
    carried = tuple(sorted(set(facts.batch_ids) & set(batch_ids)))
    before_paths = {c.path for c in facts.before}
    caused = tuple(sorted((c for c in facts.after if c.path not in before_paths),
                          key=lambda c: c.path))
    touched = tuple(sorted(set(facts.changed) & set(batch_files)))
    if carried:
        verdict = SAME_BATCH
    elif caused:
        verdict = CONFLICT
    elif facts.breaks:
        verdict = DEPENDENCY_BREAK
    elif facts.unreadable:
        verdict = UNREADABLE
    elif facts.duplicates:
        verdict = DUPLICATE
    elif touched:
        verdict = TOUCHES
    else:
        verdict = CLEAN
    return Verdict(
        refs=facts.refs, tip=facts.tip, verdict=verdict, hint=HINTS[verdict],
        conflicts=caused, pre_existing=tuple(sorted(facts.before, key=lambda c: c.path)),
        breaks=facts.breaks, unreadable=facts.unreadable, batch_files=touched,
        batch_ids=carried, after_merged=facts.after_merged, duplicates=facts.duplicates,
    )


class Open(NamedTuple):
    """An open branch as duplicates() sees it."""

    refs: tuple[str, ...]
    commits: frozenset[str]  # its own commits (not on the base)
    batch_ids: tuple[str, ...]
    paths: tuple[str, ...]  # managed paths it adds or changes


def duplicates(branches: Iterable[Open]) -> dict[tuple[str, ...], tuple[Duplicate, ...]]:
    """refs -> what that branch shares with other open branches: a managed path both add or
    change, a batch id both carry. A branch whose own commits all belong to another one (an
    older push of it, the batch branch under a stacked pull request) is not a duplicate of it."""
    listed = list(branches)
    by_key: dict[str, list[Open]] = {}
    for b in listed:
        for key in (*b.paths, *(f"batch {i}" for i in b.batch_ids)):
            by_key.setdefault(key, []).append(b)
    out: dict[tuple[str, ...], list[Duplicate]] = {}
    for key, holders in sorted(by_key.items()):
        if len(holders) < 2:
            continue
        for b in holders:
            others = tuple(o.refs[0] for o in holders if o is not b
                           and not o.commits <= b.commits and not b.commits <= o.commits)
            if others:
                out.setdefault(b.refs, []).append(Duplicate(key, others))
    return {refs: tuple(d) for refs, d in out.items()}


def sort_verdicts(verdicts: Iterable[Verdict]) -> tuple[Verdict, ...]:
    return tuple(sorted(verdicts, key=lambda v: (VERDICTS.index(v.verdict), v.refs)))


_STAGE_KINDS = {
    frozenset({1, 2, 3}): "content",
    frozenset({2, 3}): "add/add",
    frozenset({1, 2}): "modify/delete",
    frozenset({1, 3}): "modify/delete",
}


def conflicts_of(result: MergeResult) -> tuple[Conflict, ...]:
    """The conflicted paths of one merge-tree result, each with its kind.

    The kind is the stable type of git's CONFLICT message for the path ("modify/delete",
    "rename/delete", "file/directory", ...). "contents" covers both a content and an add/add
    conflict (git 2.39 merge-ort), so those two are told apart by the index stages: without
    stage 1 (no common version) it is add/add.
    """
    if result.clean:
        return ()
    stages: dict[str, set[int]] = {}
    for path, stage in result.stages:
        stages.setdefault(path, set()).add(stage)
    kinds: dict[str, str] = {}
    for msg in result.messages:
        if not msg.kind.startswith("CONFLICT (") or not msg.paths:
            continue
        kind = msg.kind.removeprefix("CONFLICT (").removesuffix(")")
        for path in msg.paths:
            kinds.setdefault(path, kind)
        stages.setdefault(msg.paths[0], set())
    out = []
    for path in sorted(stages):
        at = frozenset(stages[path])
        kind = kinds.get(path, "contents")
        if kind == "contents":
            kind = _STAGE_KINDS.get(at, "content" if 1 in at or not at else "add/add")
        out.append(Conflict(path, kind))
    return tuple(out)


# -- pure: durations, ref patterns, selection, staleness ----------------------------------------

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'72h', '3d', '1d12h', '90m', '2w' -> timedelta; UsageError for anything else."""
    compact = text.strip().lower()
    pos = 0
    seconds = 0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not compact or pos != len(compact) or seconds <= 0:
        raise UsageError(f"--stale {text!r} is not a duration.",
                         hint="write a number and a unit (s, m, h, d, w), for example 72h or 3d")
    return timedelta(seconds=seconds)


def check_patterns(cfg: Config) -> tuple[str, ...]:
    """repo.inflight_refs, validated: full ref patterns ('refs/...'), no blanks or controls."""
    for pattern in cfg.repo.inflight_refs:
        if (not pattern.startswith("refs/") or any(ord(c) <= 32 or ord(c) == 127 for c in pattern)
                or ".." in pattern):
            raise ConfigError(
                f"{cfg.source}: key 'repo.inflight_refs' must be full ref patterns such as "
                f"'refs/heads/*', not {pattern!r}.",
                hint=f"fix 'repo.inflight_refs' in {cfg.source}, or remove it to use the default")
    return cfg.repo.inflight_refs


def pattern_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching a full ref name against any pattern (`*`: any run, '/' included)."""
    parts = ["".join(".*" if c == "*" else re.escape(c) for c in p) for p in patterns]
    return re.compile("^(?:" + "|".join(parts or ["(?!)"]) + ")$")


def pattern_prefixes(patterns: Iterable[str]) -> list[str]:
    """The ref directories for-each-ref must list to cover patterns ('refs/pull/*/head' ->
    'refs/pull/'); a pattern without '*' is listed as it is."""
    out: list[str] = []
    for p in patterns:
        star = p.find("*")
        prefix = p if star < 0 else p[: p.rfind("/", 0, star) + 1]
        if prefix not in out:
            out.append(prefix)
    return out


_PREFIX_RANK = ("refs/heads/", "refs/remotes/", "refs/pull/")


def _ref_order(name: str) -> tuple[int, str]:
    rank = next((i for i, p in enumerate(_PREFIX_RANK) if name.startswith(p)), len(_PREFIX_RANK))
    return rank, name


class Skipped(NamedTuple):
    refs: tuple[str, ...]
    reason: str


class Selection(NamedTuple):
    groups: dict[str, tuple[str, ...]]  # tip -> every matching ref name at it, in order
    skipped: tuple[Skipped, ...]
    matched: int  # refs matching the patterns before anything was left out


def select_refs(refs: Iterable[RefTip], unmerged: set[str], regex: re.Pattern[str],
                excluded: Callable[[RefTip], str | None],
                squashed: Callable[[str], bool] = lambda _name: False) -> Selection:
    """Group the refs matching regex by commit. Left out, with the reason: symbolic refs, those
    excluded() names a reason for, those the base reaches (not in unmerged), and pull request
    refs squashed() says were squash-merged."""
    groups: dict[str, list[str]] = {}
    skipped: dict[str, list[str]] = {}
    matched = 0
    for ref in refs:
        if not regex.match(ref.name):
            continue
        matched += 1
        reason = "symbolic ref" if ref.symref else excluded(ref)
        if reason is None and ref.name not in unmerged:
            reason = "already merged into the base"
        if reason is None and squashed(ref.name):
            reason = "pull request squash-merged into the base"
        if reason:
            skipped.setdefault(reason, []).append(ref.name)
        else:
            groups.setdefault(ref.oid, []).append(ref.name)
    return Selection(
        groups={oid: tuple(sorted(names, key=_ref_order)) for oid, names in groups.items()},
        skipped=tuple(Skipped(tuple(sorted(names, key=_ref_order)), reason)
                      for reason, names in sorted(skipped.items())),
        matched=matched,
    )


class StaleBranch(NamedTuple):
    refs: tuple[str, ...]
    tip: str
    batch_ids: tuple[str, ...]
    open_since: int  # author time of its oldest commit not on the base (epoch seconds)
    commits: int  # its commits not on the base
    age: int = 0  # seconds open at `now`


def pick_stale(branches: Iterable[StaleBranch], now: datetime, limit: timedelta
               ) -> tuple[StaleBranch, ...]:
    """Batch branches open longer than limit at now, oldest first."""
    cutoff = now.timestamp() - limit.total_seconds()
    old = [StaleBranch(b.refs, b.tip, b.batch_ids, b.open_since, b.commits,
                       int(now.timestamp()) - b.open_since)
           for b in branches if b.batch_ids and b.open_since < cutoff]
    return tuple(sorted(old, key=lambda b: (b.open_since, b.refs)))


# -- orchestration ------------------------------------------------------------------------------


class Subject(NamedTuple):
    """What the branches are checked against."""

    mode: Literal["batch", "branch"]
    batch_ids: tuple[str, ...]
    base_ref: str
    base: str
    revert: str  # the commit branches are merged with after the revert
    revert_ref: str | None  # --revert-branch, as a full ref
    simulated: bool  # the revert commit was built in memory
    revert_paths: tuple[str, ...]  # paths the revert changes at the base
    batch_files: tuple[str, ...]
    removed_names: tuple[str, ...]  # recipe names the revert removes and nothing else provides


class Report(NamedTuple):
    subject: Subject
    patterns: tuple[str, ...]
    matched: int
    verdicts: tuple[Verdict, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]
    merges: int  # merges merge-tree ran

    @property
    def blocking(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.blocking)


class StaleReport(NamedTuple):
    base_ref: str
    base: str
    patterns: tuple[str, ...]
    matched: int
    now: datetime
    limit: timedelta
    branches: tuple[StaleBranch, ...]
    skipped: tuple[Skipped, ...]


class _Own(NamedTuple):
    """A branch's own commits (reachable from its tip, not from the base)."""

    batch_ids: tuple[str, ...]  # batch ids they carry
    reverts: tuple[str, ...]  # batch ids their Reverts-Batch trailers name
    reapplies: tuple[str, ...]  # batch ids their Reapplies-Batch trailers name
    boundary: tuple[str, ...]  # base commits they have as parents: merge base candidates
    open_since: int
    commits: int
    oids: frozenset[str] = frozenset()  # the commits themselves


class _OnBase:
    """Whether a commit is in the base's history: the index holds every commit `git rev-list
    <base tip>` lists, so this is a lookup, not a walk (`for-each-ref --no-merged` and `git
    log <tips> ^<base>` walk the whole history without a commit-graph)."""

    def __init__(self, idx: Index) -> None:
        self._idx = idx
        self._known: dict[str, bool] = {}

    def __contains__(self, oid: object) -> bool:
        if not isinstance(oid, str):
            return False
        if oid not in self._known:
            self._known[oid] = self._idx.has_commit(oid)
        return self._known[oid]


def _walk(ctx: Context, repo: Repo, on_base: _OnBase, tips: Iterable[str]
          ) -> tuple[dict[str, _Own], dict[str, str]]:
    """Own commits of every tip, read until they reach the base's history; and the tips whose
    history git cannot read, with what is missing."""
    classifier = log.Classifier(ctx.config)
    read: dict[str, tuple[list[str], int, log.Classified | None]] = {}
    out: dict[str, _Own] = {}
    missing: dict[str, str] = {}
    for tip in dict.fromkeys(tips):
        seen: set[str] = set()
        boundary: set[str] = set()
        stack = [tip]
        try:
            while stack:
                oid = stack.pop()
                if oid in seen or oid in boundary:
                    continue
                if oid in on_base:
                    boundary.add(oid)
                    continue
                seen.add(oid)
                if oid not in read:
                    parents, when, message = repo.read_commit(oid)
                    subject = message.split("\n", 1)[0].strip()
                    read[oid] = (parents, when, classifier.classify(message, subject))
                stack.extend(read[oid][0])
        except MissingObject as exc:
            missing[tip] = f"commit {exc.oid} is missing"
            continue
        ids: set[str] = set()
        events: dict[str, set[str]] = {"revert": set(), "reapply": set()}
        for oid in seen:
            c = read[oid][2]
            if c is not None:
                ids.update(b for b, _s, _d in c.members)
                for kind, b in c.events:
                    events[kind].add(b)
        out[tip] = _Own(tuple(sorted(ids)), tuple(sorted(events["revert"])),
                        tuple(sorted(events["reapply"])), tuple(sorted(boundary)),
                        min((read[o][1] for o in seen), default=0), len(seen), frozenset(seen))
    return out, missing


def _is_branch(name: str, branch: str) -> bool:
    """Whether name is the local branch or a remote-tracking branch called branch."""
    if name == f"refs/heads/{branch}":
        return True
    remote, _, rest = name.removeprefix("refs/remotes/").partition("/")
    return name.startswith("refs/remotes/") and bool(remote) and rest == branch


def _excluder(ctx: Context, base_ref: str, revert_branch: str | None, revert_tip: str | None
              ) -> Callable[[RefTip], str | None]:
    """Why a ref is left out, or None: the base, the revert branch (by its name in heads and
    remotes, or its tip), the ops branch (local or remote-tracking)."""
    ops = ctx.config.ops.branch

    def excluded(ref: RefTip) -> str | None:
        name = ref.name
        if name == base_ref:
            return "the base branch"
        if ref.oid == revert_tip or (revert_branch is not None and (
                name == revert_branch or _is_branch(name, revert_branch))):
            return "the revert branch"
        if _is_branch(name, ops):
            return "the ops branch"
        return None

    return excluded


def _squashed_pulls(ctx: Context, idx: Index) -> Callable[[str], bool]:
    """Whether a ref is the head of a pull request named by a `(#N)` subject on the base (the
    index's pulls table): forges squash-merge those, so their refs never reach the base."""
    numbers = idx.pull_numbers()
    regex = pull_ref_regex(ctx.config)

    def squashed(name: str) -> bool:
        match = regex.match(name)
        return match is not None and int(match.group(1)) in numbers

    return squashed


def _select(ctx: Context, on_base: _OnBase, excluded: Callable[[RefTip], str | None],
            squashed: Callable[[str], bool]) -> Selection:
    patterns = check_patterns(ctx.config)
    every = plumbing.list_refs(ctx.repo.path, pattern_prefixes(patterns))
    unmerged = {r.name for r in every if r.oid not in on_base}
    return select_refs(every, unmerged, pattern_regex(patterns), excluded, squashed)


_RecipeCache = dict[tuple[str, str], recipes.Recipe | recipes.RecipeError]


class _Trees:
    """Cached directory lookups for the pre-filter."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._dirs: dict[tuple[str, str], bool] = {}

    def is_dir(self, commit: str, path: str) -> bool:
        key = (commit, path)
        if key not in self._dirs:
            self._dirs[key] = self.repo.is_dir(commit, path)
        return self._dirs[key]


def _dirs_above(path: str) -> list[str]:
    """Every directory above path except the root: 'a/b/c' -> ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _after_merge_needed(trees: _Trees, base: str, tip: str, *, bases: list[str],
                        changed: Mapping[str, str], revert_paths: set[str],
                        flipped: set[str]) -> bool:
    """False only when merge(revert, tip) is sure to equal merge(base, tip) (module doc)."""
    if not revert_paths:
        return False
    if len(bases) != 1 or revert_paths & changed.keys():
        return True
    paths = sorted(changed)
    at_base = trees.repo.entries(base, paths)
    if any(at_base[p] != e for p, e in trees.repo.entries(bases[0], paths).items()):
        return True
    for path in paths:
        for d in _dirs_above(path):
            if d in flipped or not trees.is_dir(base, d):
                return True
    return any(not trees.is_dir(tip, d) for p in revert_paths for d in _dirs_above(p))


def _parse_recipe(repo: Repo, cfg: Config, path: str, blob: str, cache: _RecipeCache
                  ) -> recipes.Recipe | recipes.RecipeError:
    key = (path, blob)  # a recipe without metadata.name is named after its path
    if key not in cache:
        r = cfg.recipes
        cache[key] = recipes.parse_recipe(
            path, repo.blob(blob), dependency_fields=r.dependency_fields,
            alias_fields=r.alias_fields, protected_marker=r.protected_marker)
    return cache[key]


def _is_recipe(cfg: Config, path: str) -> bool:
    return path.endswith(".toml") and cfg.is_managed(path)


def _removed_names(ctx: Context, repo: Repo, idx: Index, *, base: str, after: str,
                   revert_paths: Iterable[str]) -> set[str]:
    """Names (and aliases) provided at the base by recipes the revert changes, provided by none
    of them after it, and by no other recipe at the base (the index's recipe table)."""
    cfg = ctx.config
    paths = sorted(p for p in revert_paths if _is_recipe(cfg, p))
    if not paths:
        return set()
    cache: _RecipeCache = {}

    def names(commit: str) -> set[str]:
        out: set[str] = set()
        for path, entry in repo.entries(commit, paths).items():
            if entry is not None:
                parsed = _parse_recipe(repo, cfg, path, entry[0], cache)
                if isinstance(parsed, recipes.Recipe):
                    out |= {parsed.name, *parsed.aliases}
        return out

    removed = names(base) - names(after)
    if not removed:
        return removed
    _depends, providers, _bad = idx.recipes_at_tip(removed)
    changing = set(paths)
    return {n for n in removed if not providers.get(n, set()) - changing}


def _branch_recipes(ctx: Context, repo: Repo, tip: str, *, changed: Iterable[str],
                    removed: set[str], cache: _RecipeCache
                    ) -> tuple[tuple[Break, ...], tuple[Unreadable, ...]]:
    """Recipes the branch adds or changes that depend on a removed name it does not provide
    itself, and those that do not parse."""
    paths = sorted(p for p in changed if _is_recipe(ctx.config, p))
    parsed: list[recipes.Recipe] = []
    unreadable: list[Unreadable] = []
    for path, entry in repo.entries(tip, paths).items():
        if entry is None:
            continue
        found = _parse_recipe(repo, ctx.config, path, entry[0], cache)
        if isinstance(found, recipes.RecipeError):
            unreadable.append(Unreadable(found.path, found.line, found.message))
        else:
            parsed.append(found)
    still = recipes.provides(parsed)
    broken = recipes.broken_dependencies(parsed, removed, still)
    return tuple(Break(*b) for b in broken), tuple(unreadable)


class _Revert(NamedTuple):
    subject: Subject
    target: query.Target
    branch: str | None  # the revert branch's name, for leaving it out (heads and remotes)
    tip: str | None  # --revert-branch's tip, for leaving out every ref at it
    notes: tuple[str, ...]


def _short_branch(full: str) -> str:
    """refs/heads/x and refs/remotes/origin/x -> x (other refs stay as they are)."""
    if full.startswith("refs/heads/"):
        return full.removeprefix("refs/heads/")
    if full.startswith("refs/remotes/"):
        return full.removeprefix("refs/remotes/").partition("/")[2] or full
    return full


def _planned_revert(ctx: Context, batch_id: str) -> _Revert:
    """Plan the revert (apply.prepare) and build its commit in memory, unreferenced."""
    plan = apply.prepare(ctx, batch_id, "revert", apply.Options())
    tgt = query.target(ctx)
    if tgt.want.tip != plan.target:
        raise GitopsError(f"the base branch {tgt.base_ref} moved while the revert was being "
                          "planned.", hint="run the command again")
    repo = Repo(ctx.repo.path)
    base = plan.target
    notes = []
    after = base
    if plan.changing:
        tree = repo.update_tree(repo.tree_of(base), tree_edits(plan))
        after = repo.write_commit(tree, [base], commit_message(plan),
                                  repo.commit_time(base))
    else:
        notes.append(f"nothing to revert: batch {batch_id} is already reverted at the base.")
    if plan.conflicts:
        notes.append(f"the revert itself stops on {len(plan.conflicts)} files edited after the "
                     "batch; the simulated revert leaves them out, as '--on-conflict skip' "
                     "would.")
    if plan.broken or plan.unreadable:
        notes.append("the revert itself breaks dependencies at the base; see "
                     f"'git batch revert {batch_id} --dry-run'.")
    subject = Subject("batch", (batch_id,), tgt.base_ref, base, after, None, after != base,
                      (), (), ())
    return _Revert(subject, tgt, apply.default_branch("revert", batch_id), None, tuple(notes))


def _branch_revert(ctx: Context, name: str) -> _Revert:
    """The revert on a branch; merged with the base in memory when the base moved on."""
    if not name or name.startswith("-") or any(ord(c) < 32 for c in name):
        raise UsageError(f"--revert-branch {name!r} is not a branch name.")
    tip = plumbing.resolve_commit(ctx.repo.path, name)
    if tip is None:
        raise RepositoryError(f"revert branch '{name}' does not exist.",
                              hint="fetch it, pass its full name (refs/remotes/origin/...), or "
                                   "check the planned revert with 'git batch inflight ID'")
    full = process.run("rev-parse", "--verify", "--symbolic-full-name", "--end-of-options", name,
                      repo=ctx.repo.path, ok=frozenset({0, 128})).text.strip() or name
    tgt = query.target(ctx)
    base = tgt.want.tip
    repo = Repo(ctx.repo.path)
    notes = []
    after: str = tip
    if plumbing.is_ancestor(ctx.repo.path, tip, Oid(base)):
        after = base
        notes.append(f"the revert branch {full} is already merged into the base.")
    elif not plumbing.is_ancestor(ctx.repo.path, Oid(base), tip):
        # The base moved on since the revert branch was cut: what lands is their merge.
        (merged,) = plumbing.merge_trees(ctx.repo.path, [(base, tip)])
        if not merged.clean:
            paths = ", ".join(c.path for c in conflicts_of(merged))
            raise RepositoryError(
                f"the revert branch {full} does not merge cleanly into {tgt.base_ref}: "
                f"{paths}.", hint="rebase the revert branch onto the base first")
        after = repo.write_commit(merged.tree, [base, tip], f"Merge {full} (simulated)\n",
                                  max(repo.commit_time(base), repo.commit_time(tip)))
    subject = Subject("branch", (), tgt.base_ref, base, after, full, after not in (base, tip),
                      (), (), ())
    return _Revert(subject, tgt, _short_branch(full), tip, tuple(notes))


def _merge_bases(ctx: Context, own: Mapping[str, _Own]) -> dict[str, list[str]]:
    """tip -> its merge bases with the base: the base commits its own commits have as parents,
    those no other one of them reaches. Tips without any share no history with the base."""
    out: dict[str, list[str]] = {}
    for tip in own:
        boundary = list(own[tip].boundary)
        if len(boundary) == 1:
            out[tip] = boundary
        elif boundary:
            out[tip] = list(plumbing.independent(ctx.repo.path, boundary))
    return out


def _diffs(ctx: Context, repo: Repo, pairs: Iterable[tuple[str, str]]
           ) -> tuple[dict[tuple[str, str], dict[str, str]], dict[tuple[str, str], str]]:
    """(old commit, new commit) -> {path: status} for every pair, one `git diff-tree` (more
    only when objects are missing); and the pairs git cannot read, with what is missing."""
    trees: dict[str, str] = {}
    failed: dict[tuple[str, str], str] = {}
    wanted = []
    for a, b in dict.fromkeys(pairs):
        try:
            for c in (a, b):
                if c not in trees:
                    trees[c] = repo.tree_of(c)
        except MissingObject as exc:
            failed[a, b] = f"object {exc.oid} is missing"
            continue
        wanted.append((trees[a], trees[b]))
    done, unread = plumbing.readable_parts(
        wanted, lambda part: plumbing.diff_trees(ctx.repo.path, part))
    found = {pair: paths for _part, result in done for pair, paths in result.items()}
    out: dict[tuple[str, str], dict[str, str]] = {}
    for a, b in dict.fromkeys(pairs):
        if (a, b) in failed:
            continue
        key = (trees[a], trees[b])
        if key in unread:
            failed[a, b] = unread[key]
        else:
            out[a, b] = found[key]
    return out, failed


class _Pending(NamedTuple):
    """A branch waiting for its merge-tree results."""

    tip: str
    refs: tuple[str, ...]
    changed: dict[str, str]
    run_after: bool
    first_pair: int  # its merges' position in the merge-tree input


class _StandIns:
    """Commits with the tree of the base (or the revert) and a branch's merge bases as their
    parents, to merge instead of the real ones.

    A merge depends only on its merge bases and the two trees, so the result is the same
    (tests check it). The gain: git 2.39's `merge-tree --stdin` takes no merge base, so for
    the real commits it walks the base's history to find one, twice per branch (bench/inflight.py
    compares the two). A stand-in is
    dated no older than the branch tip and its merge bases, because git's merge-base search
    visits commits newest first: an older date would make it walk the whole history again.
    Stand-ins are unreferenced objects like the simulated revert; the same inputs give the
    same ids.
    """

    def __init__(self, repo: Repo, enabled: bool) -> None:
        self.repo = repo
        self.enabled = enabled
        self._trees: dict[str, str] = {}
        self._times: dict[str, int] = {}

    def _time(self, commit: str) -> int:
        if commit not in self._times:
            self._times[commit] = self.repo.commit_time(commit)
        return self._times[commit]

    def __call__(self, commit: str, bases: list[str], tip: str) -> str:
        if not self.enabled:
            return commit
        if commit not in self._trees:
            self._trees[commit] = self.repo.tree_of(commit)
        when = max(self._time(c) for c in (commit, tip, *bases))
        return self.repo.write_commit(self._trees[commit], bases,
                                      f"git-batch: stand-in for {commit}\n", when)


class _Branches(NamedTuple):
    """The open branches of a selection, read."""

    own: dict[str, _Own]  # tip -> its own commits
    bases: dict[str, list[str]]  # tip -> its merge bases with the base
    changed: dict[str, dict[str, str]]  # tip -> {path: status} since its merge base(s)
    missing: dict[str, str]  # tip -> what git cannot read of it
    skipped: list[Skipped]  # no common history with the base; changes landed on the base


def _read_branches(ctx: Context, repo: Repo, idx: Index, on_base: _OnBase,
                   selection: Selection, *, extra: Iterable[str] = ()) -> _Branches:
    """Own commits, merge bases and changes of every selected tip (and extra tips); tips whose
    changes all landed on the base (a squash, a cherry-pick: any first-parent commit after the
    merge base bringing each path to the tip's blob) are left out like merged ones."""
    own, missing = _walk(ctx, repo, on_base, [*selection.groups, *extra])
    bases = _merge_bases(ctx, own)
    diffs, unread = _diffs(ctx, repo, [(m, tip) for tip, ms in bases.items() for m in ms])
    for (_m, tip), what in unread.items():
        missing.setdefault(tip, what)
    changed: dict[str, dict[str, str]] = {}
    skipped: list[Skipped] = []
    for tip, refs in selection.groups.items():
        if tip in missing:
            continue
        if tip not in bases:
            skipped.append(Skipped(refs, "no common history with the base"))
            continue
        changed[tip] = {}
        for merge_base in bases[tip]:
            changed[tip].update(diffs[merge_base, tip])
    seqs = idx.seqs(m for ms in bases.values() for m in ms)
    for tip, paths in list(changed.items()):
        try:
            at_tip = repo.entries(tip, sorted(paths))
        except MissingObject as exc:
            missing[tip] = f"object {exc.oid} is missing"
            del changed[tip]
            continue
        wanted = {p: e[0] if e else None for p, e in at_tip.items()}
        since = min(seqs.get(m, 0) for m in bases[tip])
        if wanted and idx.brought(wanted, since) == set(wanted):
            skipped.append(Skipped(selection.groups[tip], "its changes landed on the base"))
            del changed[tip]
    return _Branches(own, bases, changed, missing, skipped)


def _duplicates(cfg: Config, selection: Selection, branches: _Branches, tips: Iterable[str]
                ) -> dict[tuple[str, ...], tuple[Duplicate, ...]]:
    return duplicates(
        Open(selection.groups[tip], branches.own[tip].oids, branches.own[tip].batch_ids,
             tuple(p for p, status in branches.changed[tip].items()
                   if status in "AMT" and cfg.is_managed(p)))
        for tip in tips)


def _by_reason(skipped: Iterable[Skipped]) -> tuple[Skipped, ...]:
    """One entry per reason, its refs together (sorted as select_refs sorts them)."""
    refs: dict[str, list[str]] = {}
    for s in skipped:
        refs.setdefault(s.reason, []).extend(s.refs)
    return tuple(Skipped(tuple(sorted(names, key=_ref_order)), reason)
                 for reason, names in sorted(refs.items()))


def _merge_all(ctx: Context, pairs: list[tuple[str, str]]
               ) -> tuple[dict[int, MergeResult], dict[int, str]]:
    """merge-tree for every pair (index -> result), and the pairs git cannot read."""
    done, failed = plumbing.readable_parts(
        list(range(len(pairs))),
        lambda part: plumbing.merge_trees(ctx.repo.path, [pairs[i] for i in part]))
    results = {i: r for part, found in done for i, r in zip(part, found, strict=True)}
    return results, failed


def check(ctx: Context, *, batch_id: str | None = None, revert_branch: str | None = None,
          prefilter: bool = True, stand_ins: bool = True) -> Report:
    """Every in-flight branch's verdict against the revert of batch_id (or revert_branch).

    prefilter=False runs the after-revert merge for every branch; stand_ins=False merges the
    real base and revert commits (both give the same verdicts, only slower)."""
    if (batch_id is None) == (revert_branch is None):
        raise UsageError("name a batch id or --revert-branch, not both or neither.",
                         hint="git batch inflight 2026-03-03-001")
    if batch_id is not None:
        config.check_batch_id(ctx.config, batch_id)
        rev = _planned_revert(ctx, batch_id)
    else:
        assert revert_branch is not None
        rev = _branch_revert(ctx, revert_branch)
    subject, notes = rev.subject, list(rev.notes)
    base, after = subject.base, subject.revert
    repo = Repo(ctx.repo.path)
    idx = query.ensure_index(ctx, rev.target)
    assert idx is not None
    try:
        excluded = _excluder(ctx, subject.base_ref, rev.branch, rev.tip)
        on_base = _OnBase(idx)
        selection = _select(ctx, on_base, excluded, _squashed_pulls(ctx, idx))
        branches = _read_branches(ctx, repo, idx, on_base, selection,
                                  extra=[rev.tip] if rev.tip else [])
        own = branches.own
        batch_ids = subject.batch_ids
        if rev.tip is not None:
            if rev.tip in branches.missing:
                raise RepositoryError(f"the revert branch {rev.branch} cannot be read: "
                                      f"{branches.missing[rev.tip]}.",
                                      hint="fetch it again from a complete clone")
            batch_ids = own[rev.tip].reverts
            if not batch_ids and after != base:
                notes.append("the revert branch carries no Reverts-Batch trailer: same-batch is "
                             "not checked, and the batch's files are the files it changes.")
        (revert_paths,) = [set(d) for d in _diffs(ctx, repo, [(base, after)])[0].values()]
        batch_files: set[str] = set()
        for bid in batch_ids:
            report = idx.report(bid, ctx.config.is_managed)
            if report is not None:
                batch_files.update(report.files.all)
        if not batch_ids:
            batch_files = set(revert_paths)
        removed = _removed_names(ctx, repo, idx, base=base, after=after,
                                 revert_paths=revert_paths)
    finally:
        idx.close()
    trees = _Trees(repo)
    flipped = {d for p in revert_paths for d in _dirs_above(p)
               if trees.is_dir(base, d) != trees.is_dir(after, d)}
    skipped = [*selection.skipped, *branches.skipped]
    missing = dict(branches.missing)
    stand_in = _StandIns(repo, stand_ins)
    pending: list[_Pending] = []
    pairs: list[tuple[str, str]] = []
    bases = branches.bases
    for tip, changed in branches.changed.items():
        refs = selection.groups[tip]
        if set(own[tip].reverts) & set(batch_ids):
            skipped.append(Skipped(refs, "another revert of the batch"))
            continue
        if prefilter:
            run_after = _after_merge_needed(trees, base, tip, bases=bases[tip],
                                            changed=changed, revert_paths=revert_paths,
                                            flipped=flipped)
        else:
            run_after = after != base
        pending.append(_Pending(tip, refs, changed, run_after, len(pairs)))
        pairs.append((stand_in(base, bases[tip], tip), tip))
        if run_after:
            pairs.append((stand_in(after, bases[tip], tip), tip))
    results, unread = _merge_all(ctx, pairs)
    shared = _duplicates(ctx.config, selection, branches, [b.tip for b in pending])
    cache: _RecipeCache = {}
    verdicts = []
    for branch in pending:
        at = branch.first_pair
        if at in unread or at + 1 in unread:
            missing[branch.tip] = unread.get(at) or unread[at + 1]
            continue
        before = conflicts_of(results[at])
        after_conflicts = conflicts_of(results[at + 1]) if branch.run_after else before
        try:
            breaks, unreadable = _branch_recipes(ctx, repo, branch.tip, changed=branch.changed,
                                                 removed=removed, cache=cache)
        except MissingObject as exc:
            missing[branch.tip] = f"object {exc.oid} is missing"
            continue
        carried = (*own[branch.tip].batch_ids, *own[branch.tip].reapplies)
        facts = BranchFacts(branch.refs, branch.tip, carried,
                            tuple(sorted(branch.changed)), before, after_conflicts, breaks,
                            unreadable, branch.run_after,
                            duplicates=shared.get(branch.refs, ()))
        verdicts.append(judge(facts, batch_ids, batch_files))
    verdicts += [judge(BranchFacts(selection.groups[tip], tip, (), (), (), (), missing=what),
                       batch_ids, batch_files)
                 for tip, what in missing.items() if tip in selection.groups]
    subject = Subject(subject.mode, batch_ids, subject.base_ref, base, after, subject.revert_ref,
                      subject.simulated, tuple(sorted(revert_paths)), tuple(sorted(batch_files)),
                      tuple(sorted(removed)))
    return Report(subject, ctx.config.repo.inflight_refs, selection.matched,
                  sort_verdicts(verdicts), _by_reason(skipped), tuple(notes), len(pairs))


def stale(ctx: Context, limit: timedelta) -> StaleReport:
    """Batch branches (their own commits carry a batch id) open longer than limit; branches
    whose changes landed on the base are not open."""
    tgt = query.target(ctx)
    base = tgt.want.tip
    idx = query.ensure_index(ctx, tgt, recipes=False)
    assert idx is not None
    repo = Repo(ctx.repo.path)
    try:
        on_base = _OnBase(idx)
        selection = _select(ctx, on_base, _excluder(ctx, tgt.base_ref, None, None),
                            _squashed_pulls(ctx, idx))
        branches = _read_branches(ctx, repo, idx, on_base, selection)
    finally:
        idx.close()
    own = branches.own
    branches_open = [StaleBranch(selection.groups[tip], tip, own[tip].batch_ids,
                                 own[tip].open_since, own[tip].commits)
                     for tip in branches.changed]
    unreadable = [Skipped(selection.groups[tip], f"unreadable: {what}")
                  for tip, what in branches.missing.items()]
    now = ctx.clock.now()
    return StaleReport(tgt.base_ref, base, ctx.config.repo.inflight_refs, selection.matched,
                       now, limit, pick_stale(branches_open, now, limit),
                       _by_reason([*selection.skipped, *branches.skipped, *unreadable]))
