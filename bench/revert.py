"""Benchmark: `git batch revert ID` whole-process (and in-process) vs `git revert --no-commit`.

Usage: python bench/revert.py [--commits 200000] [--repo PATH] [--runs 5] [--keep] [--profile]

Generates a registry (or reuses --repo), writes on a new branch bench/revert-base (main is left
alone) one batch of 100 commits adding 200 recipes and modifying 50 (250 files), then 5 human
commits that leave its files alone, warms that branch's history index, and times its revert
against `git revert --no-commit` of the 100 commits in a throwaway worktree (information only).
Target (issue 15): `git batch revert ID` as a whole process, warm index, <= 0.400 s; the
in-process rows are information. Never part of the test suite (no timing assertions).
Everything created is removed at the end; --keep keeps bench/revert-base and its history index.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops import demo  # noqa: E402
from gitops.context import load_context  # noqa: E402
from gitops.history import index, query  # noqa: E402
from gitops.revert import apply  # noqa: E402

BASE = "bench/revert-base"
ENV = {"GIT_BATCH_BASE_BRANCH": BASE}
TARGET = 0.400  # seconds, `git batch revert ID` as a whole process


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode()


def median_time(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
                ) -> float:
    """Median wall time of fn() in seconds over runs (setup() before each, untimed)."""
    samples = []
    for _ in range(runs):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def new_recipe(name: str, version: str) -> bytes:
    return (f'[metadata]\nname = "{name}"\nversion = "{version}"\ndescription = "bench"\n'
            'dependencies = []\nruntime_dependencies = ["node"]\n\n[[steps]]\n'
            f'action = "npm_install"\npackage = "{name}"\ndependencies = ["node"]\n').encode()


def add_batch(repo: Path, batch_id: str, humans: int) -> list[str]:
    """Write the batch (100 commits: 200 adds, 50 rewrites of existing recipes) and humans later
    commits on other recipes to BASE with one fast-import stream; returns the batch's commits."""
    tip = git(repo, "rev-parse", "refs/heads/main").strip()
    when = int(git(repo, "log", "-1", "--format=%ct", tip)) + 60
    paths = git(repo, "ls-tree", "-r", "--name-only", "main", "recipes/").split()
    picked = paths[:: max(1, len(paths) // (50 + humans))][: 50 + humans]
    modified, human_paths = picked[:50], picked[50:]
    parts, marks = [], []
    for i in range(100 + humans):
        if i < 100:
            msg = f"npm: update batch {i + 1}/100\n\nBatch-Id: {batch_id}\nEcosystem: npm\n"
            who = "registry-bot <bot@registry.example>"
            names = (f"{chr(97 + n % 26)}benchrev-{n:03d}" for n in (2 * i, 2 * i + 1))
            edits = {demo.recipe_path(n): new_recipe(n, "1.0.0") for n in names}
            if i < 50:
                edits[modified[i]] = new_recipe(Path(modified[i]).stem, "99.0.0")
        else:
            msg, who = f"human edit {i - 99}\n", "Ana Lima <ana@registry.example>"
            edits = {human_paths[i - 100]: new_recipe(Path(human_paths[i - 100]).stem, "2.0")}
        parts.append(f"commit refs/heads/{BASE}\nmark :{i + 1}\n".encode())
        for role in ("author", "committer"):
            parts.append(f"{role} {who} {when + i * 60} +0000\n".encode())
        parts.append(b"data %d\n%s\n" % (len(msg.encode()), msg.encode()))
        if i == 0:
            parts.append(f"from {tip}\n".encode())
        for path, body in edits.items():
            parts.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(body), body))
        marks.append(f"get-mark :{i + 1}\n".encode())
    return git(repo, "fast-import", "--quiet", stdin=b"".join(parts + marks[:100])).split()


def delete_refs(repo: Path, refs: list[str]) -> None:
    if refs:
        git(repo, "update-ref", "--stdin", stdin="".join(f"delete {r}\n" for r in refs).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repo", type=Path, help="reuse (or create) the registry here")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch-id", default="2099-01-01-001", help="an id not used yet")
    ap.add_argument("--keep", action="store_true", help=f"keep {BASE} and its history index")
    ap.add_argument("--profile", action="store_true",
                    help="print the top 10 cumulative cProfile entries of one in-process run")
    args = ap.parse_args()

    if shutil.which("git-batch") is None:
        raise SystemExit("git-batch is not on PATH; run `make bench` or activate the venv")
    workdir = Path(tempfile.mkdtemp(prefix="git-batch-bench-"))
    repo = (args.repo or workdir / "registry").resolve()
    if not (repo / ".git").exists():
        t0 = time.perf_counter()
        info = demo.generate(repo, commits=args.commits, seed=args.seed)
        print(f"generated {info.commits} commits in {time.perf_counter() - t0:.1f}s at {repo}")
    else:
        print(f"reusing {repo}")
    bid = args.batch_id
    delete_refs(repo, [f"refs/heads/{BASE}"] if git(repo, "branch", "--list", BASE) else [])
    created: list[str] = []
    tree = workdir / "worktree"
    idx_path = None
    try:
        commits = add_batch(repo, bid, humans=5)
        ctx = load_context(str(repo), None, None, ENV)
        idx_path = index.index_path(ctx.repo.common_dir, f"refs/heads/{BASE}")
        had_index_dir = idx_path.parent.exists()
        t0 = time.perf_counter()
        summary = next((s for s in query.list_batches(ctx) if s.batch_id == bid), None)
        print(f"warmed the history index of {BASE} in {time.perf_counter() - t0:.1f}s")
        if summary is None or summary.commits != 100:
            raise SystemExit(f"batch {bid} has {summary and summary.commits} commits, not 100: "
                             "pass an unused --batch-id")
        counter = Counter[str]()

        def fresh(kind: str) -> str:
            counter[kind] += 1
            created.append(f"refs/heads/bench/{kind}{counter[kind]}")
            return f"bench/{kind}{counter[kind]}"

        def in_process() -> apply.Outcome:
            out = apply.run(ctx, bid, "revert", apply.Options(branch=fresh("ip")))
            if out.commit is None:
                raise SystemExit(f"revert wrote nothing (stop: {out.stop})")
            return out

        outcome = in_process()
        plan = Counter(f.outcome for f in outcome.plan.files)
        print(f"plan of {bid}: {dict(plan)}; {len(outcome.plan.commits)} commits taken back")
        rows = [
            ("load_context (in-process, info)",
             median_time(lambda: load_context(str(repo), None, None, ENV), args.runs), "info"),
            ("revert plan + commit (in-process, info)", median_time(in_process, args.runs),
             "info"),
            ("revert plan only, --dry-run (in-process, info)", median_time(
                lambda: apply.run(ctx, bid, "revert", apply.Options(dry_run=True)), args.runs),
             "info"),
        ]
        # PYTHONDONTWRITEBYTECODE would make every git-batch process compile the modules it imports
        # from source (tens of ms); an installed git-batch has its bytecode, so measure that.
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, **ENV}

        def whole() -> None:
            proc = subprocess.run(["git", "batch", "revert", bid, "--branch", fresh("r")],
                                  cwd=repo, env=env, capture_output=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"git batch revert failed: {proc.stderr.decode()}")

        whole()  # untimed: writes the bytecode
        rows.append(("git batch revert ID --branch (whole process)",
                     median_time(whole, args.runs), f"<= {TARGET:.3f} s"))
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(in_process)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(10)

        git(repo, "worktree", "add", "--detach", str(tree), BASE)
        failed = None

        def reset() -> None:
            subprocess.run(["git", "revert", "--quit"], cwd=tree, capture_output=True,
                           check=False)
            git(tree, "reset", "--quiet", "--hard", BASE)

        def reference() -> None:
            nonlocal failed
            proc = subprocess.run(["git", "revert", "--no-commit", *reversed(commits)], cwd=tree,
                                  capture_output=True, check=False)
            if proc.returncode != 0 and failed is None:
                failed = (proc.stderr.decode().strip().splitlines() or ["?"])[0]

        ref = median_time(reference, args.runs, reset)
        left = git(tree, "status", "--porcelain").splitlines()
        if failed is None and len(left) != 250:
            failed = f"expected 250 changed paths in the worktree, found {len(left)}"

        print(f"\n{'measure':<48} {'git-batch':>10} {'git revert':>10} {'ratio':>8}  target")
        for name, mine, target in rows:
            ratio = f"{mine / ref:>7.3f}x" if failed is None else f"git revert failed: {failed}"
            verdict = "" if target == "info" else "met" if mine <= TARGET else "MISSED"
            print(f"{name:<48} {mine:>9.3f}s {ref:>9.3f}s {ratio:>8}  {target} {verdict}".rstrip())
        print(f"\nmedian of {args.runs} runs; batch of 100 commits (200 added, 50 modified "
              f"recipes) + 5 later human commits on {BASE}; python {sys.version.split()[0]}, "
              f"{git(repo, 'version').strip()}, {os.cpu_count()} cpus")
    finally:
        if tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=repo,
                           capture_output=True, check=False)
        delete_refs(repo, created + ([] if args.keep else [f"refs/heads/{BASE}"]))
        if idx_path is not None and not args.keep:
            idx_path.unlink(missing_ok=True)
            if not had_index_dir and not any(idx_path.parent.iterdir()):
                idx_path.parent.rmdir()
        shutil.rmtree(workdir, ignore_errors=True)  # never holds --repo


if __name__ == "__main__":
    main()
