"""Benchmark: `git batch show ID --json` cold, index build, warm and incremental vs git log.

Usage: python bench/query.py [--commits 200000] [--seed 7] [--repo PATH] [--runs 5]
                             [--no-commit-graph]

Generates a registry with the demo generator (or reuses --repo), then times whole processes in
one run and prints each time next to the reference `git log --all -F --grep=ID --name-status`
with the ratio and the issue's target. Never part of the test suite (no timing assertions).

A generated registry gets a commit-graph, as `git gc` writes by default (fast-import alone does
not); the cold walk uses it to split the history over two cores. When the registry has one, the
old-batch cold row is also timed with `core.commitGraph=false`, for git log and git batch alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops import commitgraph, demo  # noqa: E402


def timed(argv: list[str], cwd: Path, runs: int, setup: object = None) -> float:
    """Median wall time of argv in seconds over runs (setup() before each, untimed)."""
    samples = []
    for _ in range(runs):
        if callable(setup):
            setup()
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
    return statistics.median(samples)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode()


def add_commits(repo: Path, count: int, tag: str) -> None:
    """Append count small human commits to main with fast-import (not timed)."""
    tip = git(repo, "rev-parse", "refs/heads/main").strip()
    parts = []
    for i in range(count):
        body = f"edit {tag} {i}\n".encode()
        msg = f"human edit {tag} {i}\n".encode()
        parts.append(b"commit refs/heads/main\n")
        parts.append(f"committer Bench <b@x> {1800000000 + i} +0000\n".encode())
        parts.append(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0:
            parts.append(f"from {tip}\n".encode())
        parts.append(f"M 100644 inline recipes/z/zz-bench-{tag}.toml\n".encode())
        parts.append(b"data %d\n%s\n" % (len(body), body))
    git(repo, "fast-import", "--quiet", stdin=b"".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repo", type=Path, help="reuse (or create) the registry here")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-commit-graph", action="store_true",
                    help="do not write a commit-graph into a generated registry (git gc writes "
                         "one by default, fast-import does not)")
    args = ap.parse_args()

    tool = shutil.which("git-batch")
    if tool is None:
        raise SystemExit("git-batch is not on PATH; run `make bench` or activate the venv")
    workdir = Path(tempfile.mkdtemp(prefix="git-batch-bench-"))
    repo = args.repo or workdir / "registry"
    t0 = time.perf_counter()
    if not (repo / ".git").exists():
        info = demo.generate(repo, commits=args.commits, seed=args.seed)
        batches = info.batches
        print(f"generated {info.commits} commits in {time.perf_counter() - t0:.1f}s at {repo}")
        if not args.no_commit_graph:
            git(repo, "commit-graph", "write", "--reachable")
    else:
        batches = ()
        print(f"reusing {repo}")
    ids = [b.batch_id for b in batches] or sorted(
        {line.split(": ")[1] for line in git(repo, "log", "--format=%(trailers:key=Batch-Id)")
         .splitlines() if ": " in line})
    recent, old = ids[-1], ids[len(ids) // 2]
    index_dir = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    if not index_dir.is_absolute():
        index_dir = repo / index_dir
    index_dir = index_dir / "git-batch"

    def drop_index() -> None:
        shutil.rmtree(index_dir, ignore_errors=True)

    rows = []
    graph = commitgraph.commit_count(str(index_dir.parent / "objects"))
    cold_cases = [("recent", recent, True), ("old", old, True)]
    if graph is not None:  # and as git sees a repository without one (both sides alike)
        cold_cases.append(("old", old, False))
    for label, bid, with_graph in cold_cases:
        if not with_graph:
            git(repo, "config", "core.commitGraph", "false")
        try:
            ref = timed(["git", "log", "--all", "-F", f"--grep={bid}", "--name-status"], repo,
                        args.runs)
            cold = timed(["git", "batch", "show", bid, "--json"], repo, args.runs, drop_index)
        finally:
            if not with_graph:
                git(repo, "config", "--unset", "core.commitGraph")
        note = "" if with_graph else ", core.commitGraph=false"
        rows.append((f"cold show ({label} batch {bid}{note})", cold, ref, cold / ref,
                     "<= 1.1x"))
    ref = timed(["git", "log", "--all", "-F", f"--grep={recent}", "--name-status"], repo,
                args.runs)
    build = timed(["git", "batch", "index", "--rebuild"], repo, max(1, args.runs // 2))
    rows.append(("full index build", build, ref, build / ref, "<= 5.5x"))
    warm = timed(["git", "batch", "show", recent, "--json"], repo, args.runs * 4)
    rows.append(("warm show", warm, ref, ref / warm, ">= 30x faster"))
    counter = {"n": 0}

    def grow() -> None:
        counter["n"] += 1
        add_commits(repo, 100, f"r{counter['n']}")

    incr = timed(["git", "batch", "show", recent, "--json"], repo, args.runs, grow)
    rows.append(("show after 100 new commits", incr, ref, incr / ref, "<= 0.100 s"))

    print(f"\n{'measure':<44} {'git-batch':>10} {'git log':>9} {'ratio':>8}  target")
    for name, mine, theirs, ratio, target in rows:
        print(f"{name:<44} {mine:>9.3f}s {theirs:>8.3f}s {ratio:>7.2f}x  {target}")
    print(f"\nmedian of {args.runs} runs (warm: {args.runs * 4}); python {sys.version.split()[0]},"
          f" {git(repo, 'version').strip()}, {os.cpu_count()} cpus; commit-graph: "
          f"{'none' if graph is None else f'{graph} commits'}")
    if args.repo is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
