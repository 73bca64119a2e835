"""Benchmark: the pre-receive hook over a push of 1,000 commits and commit-msg as a whole process.

Usage: python bench/hooks.py [--commits 1000] [--runs 7]

Builds, under a throwaway HOME, a client repository with --commits batch commits (each touching
one recipe, with a Batch-Id trailer; made with git fast-import) and two bare remotes, one with
our pre-receive hook and one without. Times, as medians of whole processes:
- `git-batch hook-impl pre-receive` over the pushed commits (the objects are in the server but
  no ref reaches them, exactly what a hook sees) and `git push` with and without the hook;
- `git-batch hook-impl commit-msg` with a recipe staged, without and with a signed ops branch
  (then it verifies the ops tip, as gate does), and `git commit` with and without the hooks
  installed.
Targets: pre-receive <= 1 s (issue 7); commit-msg <= 150 ms, whole process (issue 15). Never
part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PRE_RECEIVE_TARGET = 1.0  # seconds, over --commits commits
COMMIT_MSG_TARGET = 0.150  # seconds, whole process
ZERO = "0" * 40


def sh(argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def timed(argv: list[str], cwd: Path, env: dict[str, str], runs: int, *,
          stdin: bytes | None = None, before: list[list[str]] | None = None,
          ok: tuple[int, ...] = (0,)) -> float:
    """Median wall time of argv (after one warm-up); `before` commands run untimed each time."""
    samples = []
    for i in range(runs + 1):
        for cmd in before or []:
            sh(cmd, cwd, env)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True,
                              check=False)
        took = time.perf_counter() - start
        if proc.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
        if i:
            samples.append(took)
    return statistics.median(samples)


def fast_import(n: int, root: str) -> bytes:
    out = []
    for i in range(n):
        msg = f"recipes: update pkg{i}\n\nBatch-Id: 2026-01-28-001\nEcosystem: cargo\n".encode()
        blob = f"[package]\nname = 'pkg{i}'\nversion = '1.{i}'\n".encode()
        out.append(f"commit refs/heads/main\ncommitter Bot <bot@example.com> {1767000000 + i} "
                   f"+0000\ndata {len(msg)}\n")
        start = f"from {root}\n" if i == 0 else ""
        out.append(msg.decode() + start + f"M 100644 inline recipes/pkg{i % 200}.toml\n")
        out.append(f"data {len(blob)}\n{blob.decode()}\n")
    return "".join(out).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="git-batch-bench-hooks-") as tmp_s:
        tmp = Path(tmp_s)
        # PYTHONDONTWRITEBYTECODE would make every git-batch process compile the modules it imports
        # from source (tens of ms); an installed git-batch has its bytecode, so measure that.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C",
                   PATH=f"{BIN}{os.pathsep}{env['PATH']}", GIT_AUTHOR_NAME="Bench",
                   GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="Bench",
                   GIT_COMMITTER_EMAIL="bench@example.com")
        client = tmp / "client"
        sh(["git", "init", "-q", "-b", "main", str(client)], tmp, env)
        sh(["git", "commit", "-q", "--allow-empty", "-m", "root"], client, env)
        root = sh(["git", "rev-parse", "HEAD"], client, env).strip()
        sh(["git", "fast-import", "--quiet"], client, env, fast_import(args.commits, root))
        tip = sh(["git", "rev-parse", "main"], client, env).strip()
        servers = {}
        for name, hooked in (("plain", False), ("hooked", True)):
            bare = tmp / f"{name}.git"
            sh(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp, env)
            sh(["git", "push", "-q", str(bare), f"{root}:refs/heads/main"], client, env)
            if hooked:
                sh(["git", "batch", "hooks", "install", "--server"], bare, env)
            servers[name] = bare
        # The hook alone: objects present, no ref reaching them (what pre-receive sees).
        hooked = servers["hooked"]
        sh(["git", "fetch", "-q", str(client), "main"], hooked, env)
        line = f"{root} {tip} refs/heads/main\n".encode()
        hook = timed(["git-batch", "hook-impl", "pre-receive", "--"], hooked, env, args.runs,
                     stdin=line)
        push = {}
        for name, bare in servers.items():
            reset = [["git", "--git-dir", str(bare), "update-ref", "refs/heads/main", root]]
            push[name] = timed(["git", "push", "-q", "--no-verify", str(bare),
                                f"{tip}:refs/heads/main"], client, env, args.runs, before=reset)
        # commit-msg: a recipe staged, a message with a trailer (the common bot case) and one
        # without (a person editing docs).
        work = tmp / "work"
        sh(["git", "clone", "-q", str(client), str(work)], tmp, env)
        (work / "recipes" / "new.toml").write_text("[package]\nname = 'new'\n")
        sh(["git", "add", "recipes/new.toml"], work, env)
        msg = tmp / "msg"
        msg.write_text("recipes: add new\n\nBatch-Id: 2026-01-28-002\nEcosystem: cargo\n")
        commit_msg = timed(["git-batch", "hook-impl", "commit-msg", "--", str(msg)], work, env,
                           args.runs)
        human = tmp / "msg-human"
        human.write_text("recipes: fix a typo by hand\n")
        commit_human = timed(["git-batch", "hook-impl", "commit-msg", "--", str(human)], work,
                             env, args.runs, ok=(0, 30))
        # The same with a signed ops branch: commit-msg then verifies its tip, as gate does.
        key = tmp / "operator"
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@example.com", "-f",
            str(key)], tmp, env)
        signers = work / ".git-batch" / "allowed_signers"
        signers.parent.mkdir()
        signers.write_text(f"ops@example.com {Path(f'{key}.pub').read_text()}")
        sh(["git", "add", ".git-batch/allowed_signers"], work, env)
        sh(["git", "commit", "-q", "--no-verify", "-m", "allow the ops signer",
            ".git-batch/allowed_signers"], work, env)
        # as if that change had merged upstream: the base branch is origin/main
        sh(["git", "update-ref", "refs/remotes/origin/main", "HEAD"], work, env)
        for name, value in (("user.signingkey", f"{key}.pub"), ("gpg.format", "ssh")):
            sh(["git", "config", name, value], work, env)
        sh(["git", "batch", "ops", "init"], work, env)
        commit_msg_ops = timed(["git-batch", "hook-impl", "commit-msg", "--", str(msg)], work,
                               env, args.runs)
        base = sh(["git", "rev-parse", "HEAD"], work, env).strip()
        again = [["git", "reset", "-q", "--soft", base]]  # recipes/new.toml staged each run
        plain_commit = timed(["git", "commit", "-q", "--no-verify", "-F", str(msg)], work, env,
                             args.runs, before=again)
        sh(["git", "batch", "hooks", "install"], work, env)
        hooked_commit = timed(["git", "commit", "-q", "-F", str(msg)], work, env, args.runs,
                              before=again)
        version = timed(["git-batch", "--version"], work, env, args.runs)
        python = timed([sys.executable, "-c", "pass"], work, env, args.runs)

    def ms(s: float) -> str:
        return f"{s * 1000:8.1f} ms"

    def verdict(took: float, target: float) -> str:
        return "met" if took <= target else "MISSED"

    print(f"pre-receive over {args.commits} commits (target <= {PRE_RECEIVE_TARGET:.0f} s)")
    print(f"  git-batch hook-impl pre-receive  {ms(hook)}  "
          f"{verdict(hook, PRE_RECEIVE_TARGET)}")
    print(f"  git push, remote without hook    {ms(push['plain'])}  (plain git baseline)")
    print(f"  git push, remote with hook       {ms(push['hooked'])}")
    print(f"commit-msg, whole process (target <= {COMMIT_MSG_TARGET * 1000:.0f} ms)")
    print(f"  git-batch hook-impl commit-msg   {ms(commit_msg)}  "
          f"{verdict(commit_msg, COMMIT_MSG_TARGET)}")
    print(f"  ... with a signed ops branch     {ms(commit_msg_ops)}  "
          f"{verdict(commit_msg_ops, COMMIT_MSG_TARGET)} (verifies the ops tip, as gate does)")
    print(f"  ... without a trailer (refused)  {ms(commit_human)}  (no ops/index read)")
    print(f"  git commit, no hooks             {ms(plain_commit)}  (plain git baseline)")
    print(f"  git commit, hooks installed      {ms(hooked_commit)}  (prepare-commit-msg + "
          "commit-msg)")
    print(f"  git-batch --version              {ms(version)}  (click CLI start-up)")
    print(f"  python -c pass                   {ms(python)}  (interpreter start-up)")


if __name__ == "__main__":
    main()
