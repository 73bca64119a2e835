"""Concurrent CLI runs never corrupt the index nor disagree about its content."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitops import demo
from gitops.history import index as index_mod
from tests.conftest import cli_env


def spawn(repo: Path, *args: str) -> subprocess.Popen[str]:
    env = cli_env()
    return subprocess.Popen(("git", "batch", *args), cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_all(repo: Path, n: int, *args: str) -> list[str]:
    procs = [spawn(repo, *args) for _ in range(n)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def test_concurrent_builds_and_updates(tmp_path: Path) -> None:
    info = demo.generate(tmp_path / "registry", commits=300, seed=5)
    repo = info.path
    builds = run_all(repo, 4, "list", "--json")
    assert len(set(builds)) == 1
    for i in range(3):
        (repo / "recipes" / "z").mkdir(parents=True, exist_ok=True)
        (repo / "recipes" / "z" / f"zz{i}.toml").write_text(f"n = {i}\n")
        subprocess.run(("git", "add", "-A"), cwd=repo, check=True)
        subprocess.run(("git", "commit", "-qm", f"Add zz{i}\n\nBatch-Id: 2026-09-09-00{i}\n"),
                       cwd=repo, check=True)
    updates = run_all(repo, 4, "list", "--json")
    assert len(set(updates)) == 1
    assert all(f"2026-09-09-00{i}" in updates[0] for i in range(3))
    rebuilds = run_all(repo, 3, "index", "--rebuild", "--json")
    assert len(rebuilds) == 3
    idx = index_mod.Index.open(index_mod.index_path(repo / ".git", "refs/heads/main"))
    assert idx is not None
    (count,) = idx.conn.execute("SELECT COUNT(*) FROM commits").fetchone()
    assert count == info.commits + 3
    (check,) = idx.conn.execute("PRAGMA integrity_check").fetchone()
    assert check == "ok"
    idx.close()
    leftovers = [p.name for p in (repo / ".git" / "git-batch").iterdir() if ".tmp-" in p.name]
    assert leftovers == []
