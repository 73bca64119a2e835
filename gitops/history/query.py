"""Batch history queries for `list`, `show` and `index`: index when fresh, git otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import NamedTuple

from gitops import config
from gitops.config import Config, pull_ref_regex
from gitops.context import Context
from gitops.errors import UnknownBatch, UsageError
from gitops.git import repository
from gitops.git.process import Oid
from gitops.history import index as index_mod
from gitops.history import scan
from gitops.history.index import Freshness, Index
from gitops.history.report import BatchReport, BatchSummary, nearest_ids

Warn = Callable[[str], None]


def _stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")


class Target(NamedTuple):
    base_ref: str
    want: Freshness
    pulls: dict[str, str]  # pull request head ref -> commit id
    refs: dict[str, str]  # every in-flight ref -> commit id (pull requests among them)


def target(ctx: Context) -> Target:
    """The base branch and everything the index must reflect to answer: the settings, the base's
    tip, the in-flight refs (landings by content and pull request) and the ops branch refs
    (landings recorded by hand), read in one go."""
    cfg = ctx.config
    scan.check_not_shallow(ctx.repo)
    ledger = ledger_refs(cfg)
    (base_ref, tip), listed = repository.read_base_and_refs(
        ctx.repo, cfg, [*cfg.repo.inflight_refs, cfg.repo.pull_ref_pattern, *ledger])
    values = {t.name: t.oid for t in listed}
    skip = {base_ref, *ledger}
    # symbolic refs (origin/HEAD) name another ref's commit; refs/git-batch/ is the tool's own
    refs: dict[str, str] = {t.name: t.oid for t in sorted(listed) if t.name not in skip
                            and not t.symref
                            and not t.name.startswith("refs/git-batch/") and t.oid != tip}
    regex = pull_ref_regex(cfg)
    pulls = {name: oid for name, oid in refs.items() if regex.match(name)}
    ledger_key = " ".join(values.get(r) or "-" for r in ledger)
    want = Freshness(cfg.history_fingerprint(), base_ref, tip, index_mod.refs_json(refs),
                     ledger_key)
    return Target(base_ref, want, pulls, refs)


def ledger_refs(cfg: Config) -> tuple[str, str]:
    """The ops branch refs whose landings count as membership (local, remote-tracking)."""
    return (f"refs/heads/{cfg.ops.branch}", f"refs/remotes/{cfg.ops.remote}/{cfg.ops.branch}")


def ref_values(repo: repository.RepoInfo, refs: Iterable[str]) -> list[Oid | None]:
    """The value of each full ref name, None for those that do not exist."""
    names = list(refs)
    found = repository.read_refs(repo, names)
    return [found.get(r) for r in names]


def ensure_index(ctx: Context, tgt: Target, *, warn: Warn = _stderr, rebuild: bool = False,
                 build: bool = True, recipes: bool = True) -> Index | None:
    """An index that reflects the base branch now: reused, updated or (if build) rebuilt.

    recipes: also bring its recipe tables to the tip (an incremental update leaves them where
    they were; revert and inflight read them, show and list do not)."""
    idx = _ensure_history(ctx, tgt, warn=warn, rebuild=rebuild, build=build)
    if idx is None or not recipes or idx.recipes_tip() == idx.meta("tip"):
        return idx
    idx.close()
    path = index_mod.index_path(ctx.repo.common_dir, tgt.base_ref)
    if index_mod.refresh_recipes(ctx.repo, ctx.config, path):
        reopened = Index.open(path)
        if reopened is not None:
            return reopened
    if not build:
        return None
    warn("git-batch: could not bring the history index's recipe tables up to date; "
         "rebuilding the history index.")
    index_mod.build_full(ctx.repo, ctx.config, tgt.want, path, progress=ctx.progress,
                         warn=warn)
    built = Index.open(path)
    assert built is not None, "a freshly built index must open"
    return built


def _ensure_history(ctx: Context, tgt: Target, *, warn: Warn, rebuild: bool, build: bool
                    ) -> Index | None:
    path = index_mod.index_path(ctx.repo.common_dir, tgt.base_ref)
    if not rebuild:
        existing = Index.open(path)
        if existing is not None:
            if existing.is_fresh(tgt.want):
                return existing
            existing.close()
            if index_mod.update_incremental(ctx.repo, ctx.config, tgt.want, path, warn):
                reopened = Index.open(path)
                if reopened is not None:
                    return reopened
            if build:
                warn("git-batch: the base branch was rewritten or the settings changed; "
                     "rebuilding the history index.")
        elif path.exists() and build:
            old = Index.stored_schema(path) if path.is_file() else None
            if old not in (None, index_mod.SCHEMA_VERSION):
                warn(f"git-batch: {path} was built by another version of git-batch (index "
                     f"schema {old}, this one reads {index_mod.SCHEMA_VERSION}); rebuilding it.")
            else:
                warn(f"git-batch: {path} is not a valid history index (corrupt or foreign); "
                     "rebuilding it.")
    if not build:
        return None
    index_mod.build_full(ctx.repo, ctx.config, tgt.want, path, progress=ctx.progress,
                         warn=warn)
    built = Index.open(path)
    assert built is not None, "a freshly built index must open"
    return built


def unknown_batch(batch_id: str, known: list[str], tgt: Target, idx: Index | None = None
                  ) -> UnknownBatch:
    """The error for a batch with no member on the base; with the index, it says where the
    batch's commits are when they did not land, and which of its files landed ambiguously."""
    unlanded, ambiguous, carriers = idx.landing_facts(batch_id) if idx else ((), (), ())
    if carriers:
        what = (f"{len(ambiguous)} files of it landed ambiguously (their content matches other "
                "batches just as well)" if ambiguous else f"{len(unlanded)} files of it")
        return UnknownBatch(
            f"batch {batch_id} has not landed on {tgt.base_ref}: its commits are on "
            f"{', '.join(carriers)}; {what}.",
            hint="git batch inflight lists its branches; revert --include-ambiguous takes "
                 "ambiguous files as this batch's" if ambiguous else
                 "git batch inflight lists its branches")
    near = nearest_ids(batch_id, known)
    hint = f"did you mean {', '.join(near)}?" if near else "run 'git batch list' to see the ids"
    return UnknownBatch(
        f"no commit reachable from {tgt.base_ref} carries batch id {batch_id}.", hint=hint
    )


def show(ctx: Context, batch_id: str, *, use_index: bool = True) -> BatchReport:
    """The report for one batch; raises UnknownBatch with the nearest ids."""
    config.check_batch_id(ctx.config, batch_id)
    tgt = target(ctx)
    # A single query never pays for a full build (about 5x one git log): without a usable index
    # it asks git directly, which costs about one git log. list and index build it.
    idx = ensure_index(ctx, tgt, build=False, recipes=False) if use_index else None
    if idx is not None:
        try:
            report = idx.report(batch_id, ctx.config.is_managed)
            if report is None:
                raise unknown_batch(batch_id, idx.batch_ids(), tgt, idx)
            return report
        finally:
            idx.close()
    tip = Oid(tgt.want.tip)
    try:
        found = scan.cold_report(ctx.repo, ctx.config, tip, batch_id, tgt.refs)
        if found is not None or not ctx.config.batch.id_files:
            if found is None:
                raise unknown_batch(batch_id, sorted(scan.known_ids(ctx.repo, ctx.config, tip)),
                                    tgt)
            return found
    except scan.NeedsIndex:
        pass
    if not use_index:
        raise UsageError(
            f"batch {batch_id} landed from in-flight refs or id files: only the history index "
            "attributes such landings, file by file.", hint="show it without --no-index")
    _stderr(f"git-batch: batch {batch_id} landed from in-flight refs or id files, which the "
            "history index attributes file by file: building it once.")
    idx = ensure_index(ctx, tgt, recipes=False)
    assert idx is not None
    try:
        report = idx.report(batch_id, ctx.config.is_managed)
        if report is None:
            raise unknown_batch(batch_id, idx.batch_ids(), tgt, idx)
        return report
    finally:
        idx.close()


def list_batches(ctx: Context) -> list[BatchSummary]:
    tgt = target(ctx)
    idx = ensure_index(ctx, tgt, recipes=False)
    assert idx is not None
    try:
        return idx.summaries(ctx.config.is_managed)
    finally:
        idx.close()


def build_index(ctx: Context, *, rebuild: bool) -> dict[str, object]:
    tgt = target(ctx)
    idx = ensure_index(ctx, tgt, rebuild=rebuild)
    assert idx is not None
    try:
        return {"path": str(idx.path), "base_ref": tgt.base_ref, "tip": tgt.want.tip,
                "commits": int(idx.meta("commits") or 0), "batches": len(idx.batch_ids())}
    finally:
        idx.close()
