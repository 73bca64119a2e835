"""Property (issue 3): without later edits, revert == the base with the batch never applied."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.context import load_context
from gitops.revert import apply
from tests.conftest import Repo

FILES = ("recipes/a.toml", "recipes/b.toml", "recipes/c/c.toml", "recipes/d.toml", "ctl.json")
B = "2026-05-05-001"


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[bool, dict[str, str | None]]]:
    """Commits (is_batch, changes) where no human commit touches a file after the batch did."""
    n = draw(st.integers(2, 9))
    batch_touched: set[str] = set()
    existing: set[str] = set()
    out = []
    for i in range(n):
        is_batch = draw(st.booleans()) or (i == n - 1 and not any(b for b, _ in out))
        allowed = [f for f in FILES if is_batch or f not in batch_touched]
        if not allowed:
            continue
        picked = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=3, unique=True))
        changes: dict[str, str | None] = {}
        for f in picked:
            delete = f in existing and draw(st.integers(0, 3)) == 0
            changes[f] = None if delete else f"v = {i}\n"
            (existing.discard if delete else existing.add)(f)
        if is_batch:
            batch_touched |= set(changes)
        out.append((is_batch, changes))
    return out


def managed_tree(repo: Repo, rev: str) -> dict[str, str]:
    out = {}
    for line in repo.git("ls-tree", "-r", rev, "--", "recipes").splitlines():
        meta, path = line.split("\t", 1)
        out[path] = meta.split()[2]
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_revert_equals_history_without_the_batch(history: list[tuple[bool, dict[str, str | None]]]
                                                  ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        real, replay = Repo(Path(tmp) / "real"), Repo(Path(tmp) / "replay")
        for r in (real, replay):
            r.path.mkdir()
            subprocess.run(("git", "init", "-q", "-b", "main", str(r.path)), check=True)
            r.commit("init\n", {"README": "x\n"})
        for i, (is_batch, changes) in enumerate(history):
            msg = f"batch {i}\n\nBatch-Id: {B}\n" if is_batch else f"human {i}\n"
            real.commit(msg, changes)
            if not is_batch:
                replay.commit(msg, changes)
        ctx = load_context(str(real.path), None, None, {})
        out = apply.run(ctx, B, "revert", apply.Options())
        assert out.stop is None, out.plan
        result = out.branch or "main"
        assert managed_tree(real, result) == managed_tree(replay, "main")
