"""Surgical revert and reapply: gather each file's versions from the index and the object
store, plan with revert.plan, check recipe dependencies, write one commit on a new branch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from gitops import config, recipes
from gitops.config import Config
from gitops.context import Context
from gitops.errors import (
    BranchExists,
    GitFailed,
    IdentityMissing,
    RepositoryError,
    UsageError,
)
from gitops.git import plumbing, process
from gitops.git.objects import Repo, is_valid_ref_name
from gitops.history import query
from gitops.history.index import Index, RecipeFacts
from gitops.history.report import (
    BatchReport,
    LaterEdit,
)
from gitops.revert.plan import (
    BLOCKING,
    EXCLUDED,
    Breakage,
    Entry,
    FilePlan,
    FileState,
    OnConflict,
    Policy,
    RevertPlan,
    commit_message,
    later_commits,
    plan_files,
    tree_edits,
)


class Options(NamedTuple):
    on_conflict: OnConflict = "fail"
    include_ambiguous: bool = False
    only: tuple[str, ...] = ()
    with_dependents: bool = False
    allow_broken_deps: bool = False
    onto: str | None = None
    branch: str | None = None
    force_branch: bool = False
    push: str | None = None
    dry_run: bool = False


# Why a revert writes nothing, in the order the exit code is chosen (all are reported).
STOPS = ("conflicts", "ambiguous", "unreadable", "dependencies")


class Outcome(NamedTuple):
    plan: RevertPlan
    branch: str | None = None  # full ref written
    commit: str | None = None
    pushed: str | None = None  # remote pushed to
    stops: tuple[str, ...] = ()  # every reason nothing was written, in the order of STOPS

    @property
    def stop(self) -> str | None:
        """The first reason nothing was written (it picks the exit code)."""
        return self.stops[0] if self.stops else None


def default_branch(kind: str, batch_id: str) -> str:
    return f"batch-{kind}/{batch_id}"


class _RecipeReader:
    """The recipes of blobs, each parsed once while one plan is made."""

    def __init__(self, repo: Repo, cfg: Config) -> None:
        self.repo, self.cfg = repo, cfg
        self._parsed: dict[tuple[str, str], recipes.Recipe | recipes.RecipeError] = {}

    def parse(self, path: str, entry: Entry | None) -> recipes.Recipe | recipes.RecipeError | None:
        """The recipe in blob entry at path; None when it is no recipe (absent, not TOML)."""
        if entry is None or not path.endswith(".toml"):
            return None
        key = (path, entry[0])
        if key not in self._parsed:
            r = self.cfg.recipes
            self._parsed[key] = recipes.parse_recipe(
                path, self.repo.blob(entry[0]), dependency_fields=r.dependency_fields,
                alias_fields=r.alias_fields, protected_marker=r.protected_marker)
        return self._parsed[key]


def _names(recipe: recipes.Recipe | recipes.RecipeError | None) -> set[str]:
    if isinstance(recipe, recipes.Recipe):
        return {recipe.name, *recipe.aliases}
    return set()


class _Source(NamedTuple):
    """A commit being taken back: a batch member (revert) or a revert commit (reapply)."""

    oid: str
    seq: int
    paths: tuple[str, ...]


def _sources(report: BatchReport, kind: str, is_managed: Callable[[str], bool]
             ) -> list[_Source]:
    if kind == "revert":
        return [_Source(m.commit.oid, m.seq, tuple(c.path for c in m.changes))
                for m in report.members]
    pending: list[_Source] = []
    for event in report.events:  # the reverts since the last reapply
        if event.kind == "reapply":
            pending = []
        else:
            pending.append(_Source(event.commit.oid, event.seq, event.paths))
    return pending


def _select(states: list[FileState], only: tuple[str, ...], with_dependents: bool,
            batch_recipes: dict[str, recipes.Recipe]) -> tuple[set[str], tuple[str, ...]]:
    """Paths chosen by --only (paths or recipe names), plus what --with-dependents adds."""
    chosen: set[str] = set()
    for item in only:
        hits = {s.path for s in states if s.path == item}
        hits |= {p for p, r in batch_recipes.items() if item in (r.name, *r.aliases)}
        hits |= {s.path for s in states if s.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] == item}
        if not hits:
            raise UsageError(f"--only {item}: no file of this batch has that path or recipe "
                             "name.", hint="see the files with 'git batch show ID'")
        chosen |= hits
    added: tuple[str, ...] = ()
    if with_dependents:
        names = set().union(*(_names(batch_recipes.get(p)) for p in chosen))
        closure = recipes.dependents_closure(names, batch_recipes.values())
        added = tuple(sorted(closure - chosen))
        chosen |= closure
    return chosen, added


def prepare(ctx: Context, batch_id: str, kind: Literal["revert", "reapply"],
            opts: Options, *, repo: Repo | None = None) -> RevertPlan:
    """The plan for reverting (or reapplying) a batch on the target branch; writes nothing."""
    cfg = ctx.config
    config.check_batch_id(cfg, batch_id)
    tgt = query.target(ctx)
    idx = query.ensure_index(ctx, tgt)
    assert idx is not None
    try:
        # Later edits are looked up below, from the commits being taken back.
        report = idx.report(batch_id, cfg.is_managed, later_edits=False)
        if report is None:
            raise query.unknown_batch(batch_id, idx.batch_ids(), tgt)
        sources = _sources(report, kind, cfg.is_managed)
        ambiguous: dict[str, tuple[str, ...]] = {}
        if kind == "revert" and report.ambiguous:
            sources, ambiguous = _with_ambiguous(idx, sources, batch_id, report.ambiguous)
        first: dict[str, _Source] = {}
        last: dict[str, _Source] = {}
        outside: set[str] = set()
        for src in sorted(sources, key=lambda s: s.seq):
            for path in src.paths:
                if cfg.is_managed(path):
                    first.setdefault(path, src)
                    last[path] = src
                else:
                    outside.add(path)
        source_oids = {s.oid for s in sources}
        later_all = idx.touches(sorted(first), min((s.seq for s in sources), default=0))
        # pre and post are the two sides of the first and last touch's first-parent diff: the
        # index keeps them, so no commit's tree is read (each of a registry's batch commits
        # has its own copy of a directory of thousands of entries).
        sides = idx.sides([*((p, s.seq) for p, s in first.items()),
                           *((p, s.seq) for p, s in last.items())])
        target_ref, target = _target(ctx, tgt, opts)
        return _plan(ctx, idx, opts, repo or Repo(ctx.repo.path), _Gathered(
            batch_id, kind, target_ref, target, sources, first, last, outside, source_oids,
            later_all, sides, ambiguous))
    finally:
        idx.close()


class _Gathered(NamedTuple):
    """What prepare() read from the index about the commits being taken back."""

    batch_id: str
    kind: Literal["revert", "reapply"]
    target_ref: str
    target: str
    sources: list[_Source]
    first: dict[str, _Source]  # managed path -> the first source touching it
    last: dict[str, _Source]  # ... and the last one
    outside: set[str]
    source_oids: set[str]
    later_all: list[LaterEdit]
    sides: dict[tuple[str, int], tuple[Entry | None, Entry | None]]
    ambiguous: dict[str, tuple[str, ...]]  # path -> the other batches its landing matched


def _with_ambiguous(idx: Index, sources: list[_Source], batch_id: str,
                    ambiguous: tuple[tuple[str, str, tuple[str, ...]], ...]
                    ) -> tuple[list[_Source], dict[str, tuple[str, ...]]]:
    """The sources plus the landings of files attributed to no batch because this batch and
    others offered them alike: planned like members, blocked unless --include-ambiguous."""
    seqs = idx.seqs(oid for _path, oid, _ids in ambiguous)
    paths: dict[str, list[str]] = {}
    others: dict[str, tuple[str, ...]] = {}
    for path, oid, ids in ambiguous:
        if oid in seqs:
            paths.setdefault(oid, []).append(path)
            others[path] = tuple(i for i in ids if i != batch_id)
    merged = {s.oid: s for s in sources}
    for oid, extra in paths.items():
        old = merged.get(oid)
        merged[oid] = (old._replace(paths=(*old.paths, *extra)) if old
                       else _Source(oid, seqs[oid], tuple(extra)))
    return list(merged.values()), others


def _plan(ctx: Context, idx: Index, opts: Options, repo: Repo, g: _Gathered) -> RevertPlan:
    cfg = ctx.config
    first, last, sides = g.first, g.last, g.sides
    head = repo.entries(g.target, first)
    pre = {p: sides[p, s.seq][0] for p, s in first.items() if (p, s.seq) in sides}
    post = {p: sides[p, s.seq][1] for p, s in last.items() if (p, s.seq) in sides}
    # Anything the index cannot answer is read from the trees.
    pre.update(_entries_at(repo, {p: repo.first_parent(s.oid)
                                  for p, s in first.items() if p not in pre}))
    post.update(_entries_at(repo, {p: s.oid for p, s in last.items() if p not in post}))
    reader = _RecipeReader(repo, cfg)
    head_facts = _head_facts(reader, idx, g.target, head)
    later_by_path: dict[str, list[LaterEdit]] = {}
    for e in g.later_all:
        if e.commit.oid not in g.source_oids and e.seq > first[e.path].seq:
            later_by_path.setdefault(e.path, []).append(e)
    breadth_of_seq = idx.breadth({e.seq for edits in later_by_path.values() for e in edits},
                                 cfg.is_managed)
    breadth = {e.commit.oid: breadth_of_seq.get(e.seq, 0)
               for edits in later_by_path.values() for e in edits}
    threshold = cfg.revert.mechanical_edit_files
    states = []
    for path in first:
        later = tuple(later_by_path.get(path, ()))
        states.append(FileState(
            path=path, pre=pre[path], post=post[path], head=head[path], later=later,
            interleaved=any(e.seq < last[path].seq for e in later),
            protected=head_facts[path].protected,
            mechanical=bool(later) and all(breadth[e.commit.oid] > threshold for e in later),
            ambiguous=g.ambiguous.get(path, ()),
        ))
    with_dependents: tuple[str, ...] = ()
    if opts.only:
        batch_recipes = {}
        for s in states:
            parsed = reader.parse(s.path, s.post or s.head)
            if isinstance(parsed, recipes.Recipe):
                batch_recipes[s.path] = parsed
        chosen, with_dependents = _select(states, opts.only, opts.with_dependents, batch_recipes)
        states = [s for s in states if s.path in chosen]

    def merge(path: str, base: Entry, ours: Entry, theirs: Entry) -> Entry | None:
        data = repo.merge_blobs(path, base, ours, theirs)
        return None if data is None else (repo.write_blob(data), ours[1])

    files = plan_files(states, Policy(opts.on_conflict, opts.include_ambiguous), merge, g.kind)
    excluded = tuple(FilePlan(p, EXCLUDED, head[p], "not selected by --only")
                     for p in sorted(set(first) - {s.path for s in states}))
    plan = RevertPlan(
        batch_id=g.batch_id, kind=g.kind, target_ref=g.target_ref, target=g.target,
        commits=tuple(s.oid for s in sorted(g.sources, key=lambda s: s.seq)),
        files=tuple(sorted(files + excluded, key=lambda f: f.path)),
        outside=tuple(sorted(g.outside)), with_dependents=with_dependents,
        later=later_commits(files, breadth, threshold),
    )
    # Blocked files count as taken back: the check names the dependents any way past the
    # blockers must deal with, in the same dry run (DESIGN.md rule 4).
    removing = {f.path: f.new for f in plan.changing}
    removing.update((f.path, pre[f.path]) for f in plan.files if f.outcome in BLOCKING)
    broken, unreadable = _dependency_check(ctx, idx, reader, plan, removing=removing,
                                          head=head_facts)
    return plan._replace(broken=broken, unreadable=unreadable)


def _entries_at(repo: Repo, where: dict[str, str | None]) -> dict[str, Entry | None]:
    """path -> its entry in the commit named for it (None: no commit), one tree per commit."""
    by_commit: dict[str, list[str]] = {}
    out: dict[str, Entry | None] = {}
    for path, commit in where.items():
        if commit is None:
            out[path] = None
        else:
            by_commit.setdefault(commit, []).append(path)
    for commit, paths in by_commit.items():
        out.update(repo.entries(commit, paths))
    return out


def _facts(recipe: recipes.Recipe | recipes.RecipeError | None) -> RecipeFacts:
    if isinstance(recipe, recipes.Recipe):
        return RecipeFacts(True, frozenset(_names(recipe)), recipe.protected)
    return RecipeFacts(recipe is None, frozenset(), False)  # not a recipe, or a malformed one


def _head_facts(reader: _RecipeReader, idx: Index, target: str,
                head: dict[str, Entry | None]) -> dict[str, RecipeFacts]:
    """Names and protected marker of the recipes at the target: from the index's recipes table
    when the index reflects the target (no TOML to parse), else parsed."""
    known = idx.recipe_facts(head) if _reflects(idx, reader.cfg, target) else {}
    return {path: known[path] if path in known else _facts(reader.parse(path, entry))
            for path, entry in head.items()}


def _reflects(idx: Index, cfg: Config, commit: str) -> bool:
    """Whether the index's recipe tables describe commit with these settings."""
    return (idx.meta("tip") == commit and idx.recipes_tip() == commit
            and idx.meta("fingerprint") == cfg.history_fingerprint())


def _target(ctx: Context, tgt: query.Target, opts: Options) -> tuple[str, str]:
    if not opts.onto:
        return tgt.base_ref, tgt.want.tip
    if opts.onto.startswith("-") or any(ord(c) < 32 for c in opts.onto):
        raise UsageError(f"--onto {opts.onto!r} is not a branch name.")
    oid = plumbing.resolve_commit(ctx.repo.path, opts.onto)
    if oid is None:
        raise RepositoryError(f"--onto branch '{opts.onto}' does not exist.",
                              hint="fetch it or name an existing branch")
    return opts.onto, oid


def _dependency_check(ctx: Context, idx: Index, reader: _RecipeReader, plan: RevertPlan, *,
                      removing: dict[str, Entry | None], head: dict[str, RecipeFacts]
                      ) -> tuple[tuple[Breakage, ...], tuple[tuple[str, int | None, str], ...]]:
    """Recipes remaining at the target that depend on names the revert removes (rule 4);
    removing maps each file the revert takes back to its entry afterwards."""
    repo = reader.repo
    before: set[str] = set()
    after: dict[str, recipes.Recipe] = {}
    for path, new in removing.items():
        before |= head[path].provides
        parsed = reader.parse(path, new)
        if isinstance(parsed, recipes.Recipe):
            after[path] = parsed
    removed = before - set().union(*(_names(r) for r in after.values()))
    if not removed:
        return (), ()
    changing = set(removing)
    found = _from_index(ctx, idx, repo, plan, removed)
    if found is not None:
        candidates, providers = found
    else:
        candidates = _mentioning(ctx, plan.target, sorted(removed))
        providers = {}
        for path in _stem_providers(ctx, plan.target, removed):
            providers.setdefault(path.rsplit("/", 1)[-1][:-5], set()).add(path)
    remaining: list[recipes.Recipe] = list(after.values())
    unreadable = []
    entries = repo.entries(plan.target, sorted(candidates - changing))
    for path, entry in entries.items():
        parsed = reader.parse(path, entry)
        if isinstance(parsed, recipes.RecipeError):
            unreadable.append((parsed.path, parsed.line, parsed.message))
        elif parsed is not None:
            remaining.append(parsed)
    still = recipes.provides(remaining)
    for name, paths in providers.items():
        still.setdefault(name, set()).update(paths - changing)
    broken = recipes.broken_dependencies(remaining, removed, still)
    return tuple(Breakage(*b) for b in broken), tuple(unreadable)


def _from_index(ctx: Context, idx: Index, repo: Repo, plan: RevertPlan, removed: set[str]
                ) -> tuple[set[str], dict[str, set[str]]] | None:
    """Candidate dependents and providers from the index's recipe table, when the index
    reflects the revert's target; None to fall back to git grep (e.g. --onto another branch)."""
    if not _reflects(idx, ctx.config, plan.target):
        return None
    depends, providers, bad = idx.recipes_at_tip(removed)
    # an unparsable recipe may depend on anything: keep those that mention a removed name
    needles = [n.encode() for n in removed]
    for path, entry in repo.entries(plan.target, sorted(bad)).items():
        data = repo.blob(entry[0]) if entry else b""
        if any(n in data for n in needles):
            depends.add(path)
    return depends, providers


def _managed_pathspecs(cfg: Config) -> list[str]:
    return [f":(glob){g}" for g in cfg.paths.managed]


def _mentioning(ctx: Context, commit: str, names: list[str]) -> set[str]:
    """Managed files at commit whose text mentions any of names (git grep, one process)."""
    args = ["grep", "-l", "-z", "--fixed-strings"]
    for name in names:
        args += ["-e", name]
    res = process.run(*args, commit, "--", *_managed_pathspecs(ctx.config),
                     repo=ctx.repo.path, ok=frozenset({0, 1}))
    prefix = f"{commit}:"
    return {p.removeprefix(prefix) for p in res.text.split("\0") if p}


def _stem_providers(ctx: Context, commit: str, names: set[str]) -> set[str]:
    """Managed .toml files at commit whose file name (without .toml) is one of names: a
    recipe without metadata.name is named after its file and may not mention its own name."""
    # ls-tree takes no :(glob) pathspecs; filter with the configured globs instead.
    res = process.run("ls-tree", "-r", "--name-only", "-z", commit, repo=ctx.repo.path)
    out = set()
    for path in res.text.split("\0"):
        base = path.rsplit("/", 1)[-1]
        if base.endswith(".toml") and base[:-5] in names and ctx.config.is_managed(path):
            out.add(path)
    return out


def apply(ctx: Context, plan: RevertPlan, opts: Options, *, repo: Repo | None = None
          ) -> Outcome:
    """Write the plan as one commit on a new branch (compare-and-swap), unless it must stop."""
    found = {"conflicts": bool(plan.conflicts), "ambiguous": bool(plan.ambiguous),
             "unreadable": bool(plan.unreadable) and not opts.allow_broken_deps,
             "dependencies": bool(plan.broken) and not opts.allow_broken_deps}
    stops = tuple(s for s in STOPS if found[s])
    if stops:
        return Outcome(plan, stops=stops)
    if plan.nothing_to_do or opts.dry_run:
        return Outcome(plan)
    return _write_branch(ctx, plan, opts, repo or Repo(ctx.repo.path))


def _branch_ref(kind: str, batch_id: str, opts: Options) -> str:
    """The full ref the revert will create; UsageError when git would refuse the name."""
    name = opts.branch or default_branch(kind, batch_id)
    ref = name if name.startswith("refs/") else f"refs/heads/{name}"
    if not is_valid_ref_name(ref):
        raise UsageError(f"'{name}' is not a valid branch name.", hint="pass --branch NAME")
    return ref


def _write_branch(ctx: Context, plan: RevertPlan, opts: Options, repo: Repo) -> Outcome:
    ref = _branch_ref(plan.kind, plan.batch_id, opts)
    (current,) = query.ref_values(ctx.repo, [ref])
    if current is not None and not opts.force_branch:
        raise BranchExists(f"branch {ref} already exists (at {current[:10]}).",
                           hint="delete it, pass --branch OTHER, or --force-branch to replace it")
    if opts.push and (opts.push.startswith("-") or any(ord(c) < 32 for c in opts.push)):
        raise UsageError(f"--push {opts.push!r} is not a remote name.")
    tree = repo.update_tree(repo.tree_of(plan.target), tree_edits(plan))
    # The user's commit.gpgSign decides, as for `git commit` (git 2.39's commit-tree ignores it).
    sign = plumbing.config_get(ctx.repo.path, "commit.gpgsign", type_="bool") == "true"
    try:
        commit = plumbing.commit_tree(ctx.repo.path, tree, [plan.target], commit_message(plan),
                                      sign=sign)
    except GitFailed:
        # commit-tree settles the identity before it signs anything, so nothing was signed;
        # the trees written are unreferenced.
        if not plumbing.has_identity(ctx.repo.path):
            raise IdentityMissing(
                "git does not know who you are, so it cannot write the commit.",
                hint="git config user.name 'Your Name' && git config user.email you@example.com",
            ) from None
        raise
    if not plumbing.update_ref_cas(ctx.repo.path, ref, commit, current,
                                   f"git-batch: {plan.kind} {plan.batch_id}"):
        raise BranchExists(f"branch {ref} changed while the {plan.kind} was being written.",
                           hint="run the command again")
    if opts.push:
        plumbing.push_ref(ctx.repo.path, opts.push, ref)
    return Outcome(plan, branch=ref, commit=commit, pushed=opts.push)


def run(ctx: Context, batch_id: str, kind: Literal["revert", "reapply"], opts: Options
        ) -> Outcome:
    """Plan, then write unless a stop condition or --dry-run applies (the CLI's one call)."""
    config.check_batch_id(ctx.config, batch_id)  # before it reaches a command line
    if not opts.dry_run:
        _branch_ref(kind, batch_id, opts)  # a bad --branch stops before any planning
    repo = Repo(ctx.repo.path)  # one object store handle for planning and writing
    plan = prepare(ctx, batch_id, kind, opts, repo=repo)
    return apply(ctx, plan, opts, repo=repo)
