"""Warm lookups without click, pygit2 or subprocess: `show ID [--json]` and `list [--json]`.

Issue 2 asks for a warm `git batch show ID --json` of about 25 ms in all, which leaves no room for
importing click or starting git. This module answers only when the request is plain and the
index is provably fresh (same settings, same base tip, same pull request refs, read straight from
the ref files); in every other case it returns None and the full CLI handles the request.
"""

from __future__ import annotations

import os
import sys

from gitops import config as config_mod
from gitops import render, warm
from gitops.config import CONFIG_FILENAME, Config, pull_ref_regex
from gitops.index import Freshness, Index, index_file, pulls_json
from gitops.refs import GitDirs, RefReader, discover

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from gitops import gitcli


def _update(dirs: GitDirs, cfg: Config, want: Freshness, path: str,
            walk: gitcli.Running | None) -> bool:
    from gitops.index import update_incremental  # noqa: PLC0415 - starts git
    from gitops.repoinfo import RepoInfo  # noqa: PLC0415

    assert dirs.work_tree is not None
    repo = RepoInfo(dirs.work_tree, dirs.git_dir, dirs.common_dir, dirs.work_tree, shallow=False)
    return update_incremental(repo, cfg, want, path, walk=walk)


def run(argv: list[str], *, early: tuple[str, gitcli.Running] | None = None) -> int | None:
    """Exit code when the request was answered here, None to take the full path.

    early: (tip, `gitcli.start_log` of it) started by the caller, used when tip is the base's
    tip now and the index needs its new commits; the caller stops it in any case."""
    if len(argv) not in (1, 2, 3) or argv[0] not in ("show", "list"):
        return None
    want_json = argv[-1] == "--json"
    rest = argv[1:-1] if want_json else argv[1:]
    if (argv[0] == "show" and len(rest) != 1) or (argv[0] == "list" and rest):
        return None
    environ = dict(os.environ)
    dirs = discover(os.getcwd(), environ)
    if dirs is None or dirs.work_tree is None:
        return None
    explicit = environ.get("GIT_BATCH_CONFIG")
    file = explicit or os.path.join(dirs.work_tree, CONFIG_FILENAME)
    cfg = config_mod.load_config_file(file) if explicit or os.path.isfile(file) else Config()
    cfg = config_mod.apply_env(cfg, environ)
    ledger_refs = [f"refs/heads/{cfg.ops.branch}",
                   f"refs/remotes/{cfg.ops.remote}/{cfg.ops.branch}"]
    state = warm.ref_state(RefReader(dirs), cfg.repo.base_branch, cfg.repo.pull_ref_pattern,
                           ledger_refs)
    if state is None:
        return None
    base = state.base
    regex = pull_ref_regex(cfg)
    pulls = {n: o for n, o in state.listing.items() if regex.match(n)}
    want = Freshness(cfg.history_fingerprint(), base[0], base[1], pulls_json(pulls),
                     state.ledger)
    path = index_file(dirs.common_dir, base[0])
    idx = Index.open(path)
    if idx is None:
        return None
    if not idx.is_fresh(want):
        # New commits on the base: append them here rather than in the full CLI (no click).
        idx.close()
        walk = early[1] if early is not None and early[0] == want.tip else None
        if not _update(dirs, cfg, want, path, walk):
            return None
        idx = Index.open(path)
        if idx is None or not idx.is_fresh(want):
            return None
    try:
        if argv[0] == "show":
            batch_id = rest[0]
            if not cfg.id_regex.fullmatch(batch_id):
                return None
            report = idx.report(batch_id, cfg.is_managed)
            if report is None:
                return None
            out = (render.dumps(render.report_json(report, cfg.is_managed)) if want_json
                   else render.report_text(report, cfg.is_managed))
        else:
            rows = idx.summaries(cfg.is_managed)
            out = (render.dumps(render.summaries_json(rows)) if want_json
                   else render.summaries_text(rows))
    finally:
        idx.close()
    warm.store(dirs, argv, state, out)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0
