"""Benchmark: `git batch inflight ID` vs `git merge-tree --write-tree --stdin` over its merges.

Usage: python bench/inflight.py [--repo PATH] [--commits 200000] [--branches 50] [--runs 5]
                                [--keep]

Uses --repo (default /tmp/bench/reg200k when it exists, else a registry generated with
--commits into a temp dir). Writes --branches in-flight branches under
refs/heads/bench-inflight/* with one fast-import stream (main is left alone): a fifth edit a
file of the latest batch on main (conflict after its revert), a fifth add a recipe depending on
one of its recipes (dependency-break), the rest edit or add other recipes (clean); a third of
them are cut 50-500 commits behind main. Then it times, after one warm-up, --runs rounds in
turn (median wall and CPU seconds):

- reference: `git merge-tree --write-tree --stdin` alone over the same merges, base+branch and
  revert+branch for every branch (what the radar needs without its pre-filter);
- core: inflight.check() in-process (plan, ref listing, walk, diffs, pre-filter, merges with
  stand-in commits, verdicts);
- cli: the whole `git batch inflight ID --json` process;
- plain: inflight.check() without the pre-filter and the stand-ins (every real merge).

and prints the ratios (target: <= 1.2x). Never part of the test suite. The branches are deleted
at the end unless --keep; a registry generated into a temp dir always is.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
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
from gitops.context import load_context  # noqa: E402
from gitops.revert import inflight  # noqa: E402

PREFIX = "refs/heads/bench-inflight/"
DEFAULT_REPO = Path("/tmp/bench/reg200k")  # noqa: S108 - the shared 200k registry, read-mostly


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(("git", *args), cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def interleaved(cases: dict[str, Callable[[], object]], runs: int
                ) -> dict[str, tuple[float, float]]:
    """name -> (median wall seconds, median CPU seconds of this process and its children),
    the cases taking turns so that a busy machine slows them all alike."""
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time() + _children_cpu()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() + _children_cpu() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]))
            for name in cases}


def latest_batch(repo: Path) -> str:
    """The id of the newest trailer batch on main."""
    body = git(repo, "log", "-1", "--format=%B", "--grep=^Batch-Id: ", "main")
    for line in body.splitlines():
        if line.startswith("Batch-Id: "):
            return line.split(": ", 1)[1].strip()
    raise SystemExit("no batch with a Batch-Id trailer on main")


def batch_files(repo: Path, batch_id: str) -> list[str]:
    out = git(repo, "log", "--format=", "--name-only", "--diff-filter=A", "-F",
              f"--grep=Batch-Id: {batch_id}", "main", "--", "recipes/")
    return sorted({p for p in out.split() if p.endswith(".toml")})


def recipe(name: str, deps: list[str], version: str) -> bytes:
    listed = ", ".join(f'"{d}"' for d in deps)
    return (f'[metadata]\nname = "{name}"\nversion = "{version}"\ndescription = "bench"\n'
            f"dependencies = [{listed}]\nruntime_dependencies = []\n").encode()


def make_branches(repo: Path, count: int, batch_id: str, seed: int = 7) -> list[str]:
    """count branches under PREFIX (one fast-import stream); returns their full ref names."""
    rng = random.Random(seed)
    tip = git(repo, "rev-parse", "main").strip()
    olds = git(repo, "rev-list", "--first-parent", "--max-count=500", "main").split()
    files = batch_files(repo, batch_id)
    names = [Path(p).stem for p in files]
    others = git(repo, "ls-tree", "-r", "--name-only", tip, "recipes/").split()
    others = [p for p in others if p not in files]
    when = int(git(repo, "log", "-1", "--format=%ct", tip)) + 60
    parts, refs = [], []
    for i in range(count):
        ref = f"{PREFIX}{i:03d}"
        refs.append(ref)
        start = tip if i % 3 or i < 2 * count // 5 else rng.choice(olds[50:])
        kind = "conflict" if i < count // 5 else "depends" if i < 2 * count // 5 else "other"
        for n in range(rng.randint(1, 3)):
            edits: dict[str, bytes] = {}
            if kind == "conflict" and n == 0:
                path = files[i % len(files)]
                edits[path] = recipe(Path(path).stem, [], f"{i}.0")
            elif kind == "depends" and n == 0:
                new = f"benchdep{i:03d}"
                edits[demo.recipe_path(new)] = recipe(new, [names[i % len(names)]], "1.0")
            elif rng.random() < 0.5:
                path = rng.choice(others)
                edits[path] = recipe(Path(path).stem, [], f"{i}.{n}")
            else:
                new = f"benchnew{i:03d}x{n}"
                edits[demo.recipe_path(new)] = recipe(new, [], "1.0")
            msg = f"bench in-flight {i} commit {n}\n".encode()
            head = (f"commit {ref}\ncommitter Bench <b@x> {when + i * 10 + n} +0000\n"
                    f"data {len(msg)}\n").encode() + msg
            if n == 0:
                head += f"from {start}\n".encode()
            body = b"".join(f"M 100644 inline {p}\ndata {len(d)}\n".encode() + d + b"\n"
                            for p, d in edits.items())
            parts.append(head + body + b"\n")
    parts.append(b"done\n")
    git(repo, "fast-import", "--quiet", "--done", stdin=b"".join(parts))
    return refs


def delete_refs(repo: Path, refs: list[str]) -> None:
    if refs:
        git(repo, "update-ref", "--stdin", stdin="".join(f"delete {r}\n" for r in refs).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path)
    parser.add_argument("--commits", type=int, default=200_000)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    repo = args.repo or (DEFAULT_REPO if DEFAULT_REPO.is_dir() else None)
    generated = repo is None
    if repo is None:
        repo = Path(tempfile.mkdtemp(prefix="bench-inflight-")) / "registry"
        print(f"generating a {args.commits}-commit registry in {repo} ...", flush=True)
        demo.generate(repo, commits=args.commits)
    stale = [line.split()[-1] for line in git(repo, "for-each-ref", PREFIX).splitlines()]
    delete_refs(repo, stale)
    batch_id = latest_batch(repo)
    refs = make_branches(repo, args.branches, batch_id)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(f'[repo]\nbase_branch = "main"\ninflight_refs = ["{PREFIX}*"]\n')
    env = {"GIT_BATCH_CONFIG": cfg.name}
    try:
        ctx = load_context(str(repo), cfg.name, None, env)
        report = inflight.check(ctx, batch_id=batch_id)  # warm-up: index, caches
        tips = [v.tip for v in report.verdicts]
        base, after = report.subject.base, report.subject.revert
        every = "".join(f"{base} {t}\n{after} {t}\n" for t in tips).encode()

        def merge_tree(stdin: bytes) -> Callable[[], object]:
            return lambda: git(repo, "merge-tree", "--write-tree", "--stdin", "-z", stdin=stdin)

        bin_dir = Path(sys.executable).parent
        # PYTHONDONTWRITEBYTECODE would make every git-batch process compile the modules it imports
        # from source (tens of ms); an installed git-batch has its bytecode, so measure that.
        cli_env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                   **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

        def whole() -> None:
            proc = subprocess.run(("git", "batch", "inflight", batch_id, "--json"), cwd=repo,
                                  env=cli_env, capture_output=True, check=False)
            if proc.returncode not in (0, 16):  # 16: some branch is blocking, as planned
                raise SystemExit(f"git batch inflight failed ({proc.returncode}): "
                                 f"{proc.stderr.decode()}")

        times = interleaved({
            "reference": merge_tree(every),
            "core": lambda: inflight.check(ctx, batch_id=batch_id),
            "cli": whole,
            "plain": lambda: inflight.check(ctx, batch_id=batch_id, prefilter=False,
                                            stand_ins=False),
        }, args.runs)
    finally:
        os.unlink(cfg.name)
        if not args.keep:
            delete_refs(repo, refs)
    commits = git(repo, "rev-list", "--count", "main").strip()
    counts = {k: sum(v.verdict == k for v in report.verdicts) for k in inflight.VERDICTS}
    print(f"repository: {repo} ({commits} commits on main), batch {batch_id}, "
          f"{len(report.verdicts)} in-flight branches")
    print("verdicts: " + ", ".join(f"{k} {n}" for k, n in counts.items() if n))
    print(f"merges: {2 * len(tips)} without the pre-filter, {report.merges} with it "
          f"(median of {args.runs} interleaved runs; wall / CPU seconds)")
    ref_wall, ref_cpu = times["reference"]
    rows = (
        ("reference", f"git merge-tree --stdin, all {2 * len(tips)} merges"),
        ("core", "inflight.check()"),
        ("cli", "git batch inflight ID --json (whole process)"),
        ("plain", "inflight.check(prefilter=False, stand_ins=False)"),
    )
    for name, what in rows:
        wall, cpu = times[name]
        ratio = "" if name == "reference" else (
            f"  ratio {wall / ref_wall:.2f}x wall, {cpu / ref_cpu:.2f}x CPU")
        print(f"{name:<10} {what:<52} {wall:7.3f} / {cpu:7.3f}{ratio}")
    print("target: cli <= 1.2x the reference")
    if generated:
        shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
