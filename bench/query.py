"""Benchmark: `git batch show ID --json` cold, warm and after new commits, and the index build.

Usage: python bench/query.py [--commits 200000] [--seed 7] [--repo PATH] [--runs 5]
                             [--no-commit-graph] [--keep]

Generates a registry with the demo generator (or reuses --repo) and times whole processes in
one run, each next to its reference, the ratio and the target (issue 15):

- cold show (no index: the base's index file is deleted before each run), of a recent and an
  old batch: <= 1.2x `git log -F --grep=ID --name-status BASE` with a commit-graph, <= 1.5x
  without one (then `core.commitGraph=false` is set in the repository's config for that row, so
  that git log and git batch both run without it, and restored afterwards); a registry without
  a commit-graph gets the second rows only;
- full index build (`git batch index --rebuild`): <= 2x the git-only floor, the wall time of
  `git log --format=%H --raw --no-abbrev -z --no-renames --diff-merges=first-parent BASE` (every
  commit's raw diff, output to /dev/null);
- warm show (index present and fresh): >= 20x faster than the git log above;
- show after 100 new commits on the base (the index catches up): <= 0.150 s.

Main is left alone: git batch runs with `--base bench/query-base`, a branch made at main's tip;
the new commits of the last row go there. That branch and its index are deleted at the end
(unless --keep); a repository config value of core.commitGraph is restored. A generated registry
gets a commit-graph (`git commit-graph write --reachable`, as `git gc` writes by default;
fast-import alone does not) unless --no-commit-graph. Never part of the test suite (no timing
assertions).
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops import demo  # noqa: E402
from gitops.history import index  # noqa: E402

BASE = "bench/query-base"
BASE_REF = f"refs/heads/{BASE}"
# PYTHONDONTWRITEBYTECODE would make every git-batch process compile the modules it imports
# from source (tens of ms); an installed git-batch has its bytecode, so measure that.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# measure, git-batch seconds, reference seconds (None: absolute target), reference name, ratio,
# target, target met
Row = tuple[str, float, float | None, str, float | None, str, bool]


def timed(argv: list[str], cwd: Path, runs: int, setup: Callable[[], object] | None = None
          ) -> float:
    """Median wall time of argv in seconds over runs (setup() before each, untimed)."""
    samples = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
    return statistics.median(samples)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode()


def interpreter() -> str:
    """The Python that runs the git-batch on PATH (its console script's #! line)."""
    tool = shutil.which("git-batch")
    assert tool is not None
    with open(tool, encoding="utf-8") as fh:
        return fh.readline().removeprefix("#!").strip()


def config_value(repo: Path, key: str) -> str | None:
    """The value of key in the repository's own config file, None when unset there."""
    proc = subprocess.run(("git", "config", "--local", "--get", key), cwd=repo,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def commit_graph(common_dir: Path) -> str | None:
    """Which commit-graph the repository has ('file' or 'split chain'), None without one."""
    info = common_dir / "objects" / "info"
    if (info / "commit-graph").is_file():
        return "file"
    chain = info / "commit-graphs"
    if chain.is_dir() and any(chain.iterdir()):
        return "split chain"
    return None


def restore_setting(repo: Path, key: str, value: str | None) -> None:
    """Put key back as it was in the repository's config (unset when it was unset)."""
    if value is None:
        subprocess.run(("git", "config", "--local", "--unset", key), cwd=repo,
                       capture_output=True, check=False)
    else:
        git(repo, "config", "--local", key, value)


def add_commits(repo: Path, count: int, tag: str) -> None:
    """Append count small human commits to BASE with fast-import (not timed)."""
    tip = git(repo, "rev-parse", BASE_REF).strip()
    parts = []
    for i in range(count):
        body = f"edit {tag} {i}\n".encode()
        msg = f"human edit {tag} {i}\n".encode()
        parts.append(f"commit {BASE_REF}\n".encode())
        parts.append(f"committer Bench <b@x> {1800000000 + i} +0000\n".encode())
        parts.append(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0:
            parts.append(f"from {tip}\n".encode())
        parts.append(f"M 100644 inline recipes/z/zz-bench-{tag}.toml\n".encode())
        parts.append(b"data %d\n%s\n" % (len(body), body))
    git(repo, "fast-import", "--quiet", stdin=b"".join(parts))


def measure(repo: Path, batch_ids: list[str], runs: int, keep: bool
            ) -> tuple[list[Row], str | None]:
    """The rows of the table, and which commit-graph the repository has (None: none)."""
    common = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    common = common if common.is_absolute() else repo / common
    graph = commit_graph(common)
    idx_path = index.index_path(common, BASE_REF)
    had_index_dir = idx_path.parent.exists()
    saved_graph_setting = config_value(repo, "core.commitGraph")
    git(repo, "update-ref", BASE_REF, "refs/heads/main")
    batch = ["git", "batch", "--base", BASE]
    rows: list[Row] = []
    try:
        ids = batch_ids or sorted(
            {line.split(": ")[1] for line in
             git(repo, "log", "--format=%(trailers:key=Batch-Id)", BASE_REF).splitlines()
             if ": " in line})
        recent, old = ids[-1], ids[len(ids) // 2]

        def drop_index() -> None:
            for path in idx_path.parent.glob(f"{idx_path.name}*"):
                path.unlink()

        def grep_log(bid: str) -> list[str]:
            return ["git", "log", "-F", f"--grep={bid}", "--name-status", BASE_REF]

        timed([*batch, "show", recent, "--json"], repo, 1, drop_index)  # writes the bytecode
        cold_cases = [(graph is not None, "recent", recent), (graph is not None, "old", old)]
        if graph is not None:  # and as git sees the repository without one (both sides alike)
            cold_cases += [(False, "recent", recent), (False, "old", old)]
        for with_graph, label, bid in cold_cases:
            if not with_graph and graph is not None:
                git(repo, "config", "core.commitGraph", "false")
            try:
                ref = timed(grep_log(bid), repo, runs)
                cold = timed([*batch, "show", bid, "--json"], repo, runs, drop_index)
            finally:
                if not with_graph and graph is not None:
                    restore_setting(repo, "core.commitGraph", saved_graph_setting)
            limit = 1.2 if with_graph else 1.5
            note = "commit-graph" if with_graph else "no commit-graph"
            rows.append((f"cold show, {label} batch {bid} ({note})", cold, ref, "git log",
                         cold / ref, f"<= {limit}x", cold / ref <= limit))

        tip = git(repo, "rev-parse", BASE_REF).strip()
        floor = timed(["git", "log", "--format=%H", "--raw", "--no-abbrev", "-z", "--no-renames",
                       "--diff-merges=first-parent", tip], repo, max(1, runs // 2))
        build = timed([*batch, "index", "--rebuild"], repo, max(1, runs // 2))
        rows.append(("full index build (git batch index --rebuild)", build, floor, "git floor",
                     build / floor, "<= 2x", build <= 2 * floor))
        ref = timed(grep_log(recent), repo, runs)
        warm = timed([*batch, "show", recent, "--json"], repo, runs * 4)
        rows.append(("warm show", warm, ref, "git log", ref / warm, ">= 20x faster",
                     ref / warm >= 20))
        # What any click command costs before it does anything: the interpreter of the
        # git-batch on PATH starting and importing click (no git, no gitops).
        start = timed([interpreter(), "-c", "import click"], repo, runs * 4)
        rows.append(("  floor: python + import click (any click CLI)", start, ref, "git log",
                     ref / start, "info", True))
        counter = {"n": 0}

        def grow() -> None:
            counter["n"] += 1
            add_commits(repo, 100, f"r{counter['n']}")

        incr = timed([*batch, "show", recent, "--json"], repo, runs, grow)
        rows.append(("show after 100 new commits", incr, None, "", None, "<= 0.150 s",
                     incr <= 0.150))
    finally:
        restore_setting(repo, "core.commitGraph", saved_graph_setting)
        if not keep:
            git(repo, "update-ref", "-d", BASE_REF)
            for path in idx_path.parent.glob(f"{idx_path.name}*"):
                path.unlink()
            if not had_index_dir and not any(idx_path.parent.iterdir()):
                idx_path.parent.rmdir()
    return rows, graph


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repo", type=Path, help="reuse (or create) the registry here")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-commit-graph", action="store_true",
                    help="do not write a commit-graph into a generated registry (git gc writes "
                         "one by default, fast-import does not)")
    ap.add_argument("--keep", action="store_true", help=f"keep {BASE} and its history index")
    args = ap.parse_args()

    if shutil.which("git-batch") is None:
        raise SystemExit("git-batch is not on PATH; run `make bench` or activate the venv")
    workdir = Path(tempfile.mkdtemp(prefix="git-batch-bench-"))
    try:
        repo = (args.repo or workdir / "registry").resolve()
        t0 = time.perf_counter()
        batch_ids: list[str] = []
        if not (repo / ".git").exists():
            info = demo.generate(repo, commits=args.commits, seed=args.seed)
            batch_ids = [b.batch_id for b in info.batches]
            print(f"generated {info.commits} commits in {time.perf_counter() - t0:.1f}s at "
                  f"{repo}")
            if not args.no_commit_graph:
                git(repo, "commit-graph", "write", "--reachable")
        else:
            print(f"reusing {repo}")
        rows, graph = measure(repo, batch_ids, args.runs, args.keep)

        print(f"\n{'measure':<58} {'git-batch':>9} {'reference':>19} {'ratio':>7}  target")
        for name, mine, theirs, ref_name, ratio, target, met in rows:
            reference = f"{theirs:.3f}s {ref_name:<9}" if theirs is not None else "-"
            shown = f"{ratio:.2f}x" if ratio is not None else "-"
            print(f"{name:<58} {mine:>8.3f}s {reference:>19} {shown:>7}  {target:<14} "
                  f"{'met' if met else 'MISSED'}")
        print(f"\nreferences: git log = `git log -F --grep=ID --name-status {BASE}`; git floor = "
              f"`git log --format=%H --raw --no-abbrev -z --no-renames --diff-merges=first-parent "
              f"{BASE}` > /dev/null")
        print(f"median of {args.runs} runs (warm: {args.runs * 4}; build and floor: "
              f"{max(1, args.runs // 2)}); python {sys.version.split()[0]}, "
              f"{git(repo, 'version').strip()}, {os.cpu_count()} cpus; commit-graph: "
              f"{graph or 'none'}; "
              f"{git(repo, 'rev-list', '--count', 'refs/heads/main').strip()} commits on main")
        if graph is None:
            print("no commit-graph: the <= 1.2x cold rows need one (`git commit-graph write "
                  "--reachable`, as git gc would write)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # never holds --repo


if __name__ == "__main__":
    main()
