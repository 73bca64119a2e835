"""Benchmark: `git batch record` of a 500-package results file + signed commit, and `git batch
gate` with breaker and budget, both as whole processes.

Usage: python bench/record.py [--runs 15] [--packages 500] [--commits 2000]

Builds a registry with the demo generator in a temp dir, an ed25519 signing key listed in
`.git-batch/allowed_signers`, a budget config and an ops branch, all under a throwaway HOME
(your git configuration is neither read nor changed). Then times `git batch record --results`
(each run is one more signed commit), `git batch gate --stage generate` and
`git batch --version` (the start-up floor). Prints the medians and the issue's targets
(record <= 300 ms, gate <= 100 ms). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ops import signed_registry, timed  # noqa: E402

RECORD_TARGET = 0.300
GATE_TARGET = 0.100


def results_file(path: Path, packages: int) -> None:
    rng = random.Random(6)
    lines = []
    for i in range(packages):
        roll = rng.random()
        outcome = "passed" if roll < 0.9 else "failed" if roll < 0.97 else "skipped"
        row: dict[str, object] = {"package": f"pkg-{i:04d}", "outcome": outcome,
                                  "minutes": {"linux": rng.randint(1, 5)}}
        if outcome == "failed":
            row["category"] = rng.choice(["validation", "network", "timeout"])
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--packages", type=int, default=500)
    ap.add_argument("--commits", type=int, default=2000, help="commits of the registry")
    args = ap.parse_args()

    if shutil.which("git-batch") is None:
        raise SystemExit("git-batch is not on PATH; activate the venv")
    work, env, repo = signed_registry(args.commits, "git-batch-bench-record-")

    def git(*argv: str) -> None:
        subprocess.run(("git", *argv), cwd=repo, env=env, capture_output=True, check=True)

    (repo / ".git-batch.toml").write_text("[budget.limits]\nlinux = 10000000\nmacos = 1000\n")
    subprocess.run(("git", "batch", "ops", "init"), cwd=repo, env=env, capture_output=True,
                   check=True)
    run_jsonl = work / "run.jsonl"
    results_file(run_jsonl, args.packages)
    print(f"registry: {args.commits} commits; results file: {args.packages} packages; "
          f"{args.runs} runs each, median of whole processes")
    record = timed(["git", "batch", "record", "--ecosystem", "cargo", "--results",
                    str(run_jsonl), "--minutes", "macos=3"], repo, env, args.runs)
    gate = timed(["git", "batch", "gate", "--ecosystem", "cargo", "--stage", "generate"], repo,
                 env, args.runs)
    startup = timed(["git", "batch", "--version"], repo, env, args.runs)
    label = f"git batch record ({args.packages} packages, signed)"
    print(f"{label:42} {record * 1000:7.1f} ms")
    print(f"{'git batch gate (breaker + budget)':42} {gate * 1000:7.1f} ms")
    print(f"{'git batch --version (start-up floor)':42} {startup * 1000:7.1f} ms")
    print(f"target: record <= {RECORD_TARGET * 1000:.0f} ms: "
          f"{'met' if record <= RECORD_TARGET else 'MISSED'}; gate <= "
          f"{GATE_TARGET * 1000:.0f} ms: {'met' if gate <= GATE_TARGET else 'MISSED'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
