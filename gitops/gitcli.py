"""The only module that runs processes: env policy, argv safety, tracer.

Every git process starts in `run()`. Callers pass options first, `--end-of-options` before any
value a user typed and `--` before paths; better still they resolve user revisions to object ids
with `resolve_commit()` first, so only 40-hex ids reach later command lines.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

from gitops.errors import GitFailed

Oid = NewType("Oid", str)
ZERO_OID = Oid("0" * 40)

OK0 = frozenset({0})

# Inherited GIT_* variables that describe the user's environment rather than a repository;
# everything else (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...) would point git at the wrong place
# when we run it on a repository other than the caller's (pre-commit's git.no_git_env does this).
_KEEP_GIT_VARS = frozenset(
    {
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSH_VARIANT",
        "GIT_ASKPASS",
        "GIT_EXEC_PATH",
        "GIT_TRACE",
        "GIT_CEILING_DIRECTORIES",
    }
)

_tracers: list[Callable[[tuple[str, ...]], None]] = []


def add_tracer(fn: Callable[[tuple[str, ...]], None]) -> None:
    """Call fn(argv) before every git process (tests record argv; --debug prints it)."""
    _tracers.append(fn)


def remove_tracer(fn: Callable[[tuple[str, ...]], None]) -> None:
    _tracers.remove(fn)


def debug_tracer(argv: tuple[str, ...]) -> None:
    sys.stderr.write("+ " + " ".join(argv) + "\n")


def git_env(*, keep_repo_vars: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment handed to git: C locale, never prompts, never opens an editor."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIT_") or k in _KEEP_GIT_VARS or keep_repo_vars
    }
    env["LC_ALL"] = "C"
    env["LANGUAGE"] = "C"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_EDITOR"] = "false"
    env["GIT_PAGER"] = "cat"
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class GitResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")


def run(
    *args: str,
    repo: Path,
    stdin: bytes | None = None,
    ok: frozenset[int] = OK0,
    env: dict[str, str] | None = None,
) -> GitResult:
    """Run `git args...` in repo; raise GitFailed unless its exit code is in ok."""
    argv = ("git", *args)
    for tracer in _tracers:
        tracer(argv)
    proc = subprocess.run(
        argv,
        cwd=repo,
        input=stdin,
        capture_output=True,
        env=env if env is not None else git_env(),
        check=False,
    )
    if proc.returncode not in ok:
        raise GitFailed(argv, proc.returncode, proc.stdout, proc.stderr)
    return GitResult(argv, proc.returncode, proc.stdout, proc.stderr)


def run_streaming(
    *args: str,
    repo: Path,
    chunks: Iterable[bytes],
    ok: frozenset[int] = OK0,
) -> GitResult:
    """Run `git args...` in repo with stdin fed from chunks as they are made (fast-import).

    The caller's generator and git then work at the same time, and the input never has to sit in
    memory whole. stdout and stderr go to temporary files so that git can never block on a full
    pipe while we are still writing to it.
    """
    argv = ("git", *args)
    for tracer in _tracers:
        tracer(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, cwd=repo, stdin=subprocess.PIPE, stdout=out, stderr=err, env=git_env()
        )
        assert proc.stdin is not None
        try:
            try:
                for chunk in chunks:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # git stopped reading: its exit code and stderr below say why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        except BaseException:
            proc.kill()  # the producer failed (or ^C): do not leave a half-fed git behind
            proc.wait()
            raise
        code = proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in ok:
        raise GitFailed(argv, code, stdout, stderr)
    return GitResult(argv, code, stdout, stderr)


def popen_lines(*args: str, repo: Path, stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    """Start a long git process whose stdout the caller streams (large history walks)."""
    argv = ("git", *args)
    for tracer in _tracers:
        tracer(argv)
    proc = subprocess.Popen(
        argv,
        cwd=repo,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=git_env(),
    )
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    return proc


class Pending:
    """A git process running in the background; result() waits for it (see start())."""

    def __init__(self, argv: tuple[str, ...], proc: subprocess.Popen[bytes],
                 stdin: bytes | None) -> None:
        import threading  # noqa: PLC0415 - only the cold history path runs git concurrently

        self.argv = argv
        self._proc = proc
        self._out: tuple[bytes, bytes] = (b"", b"")
        self._thread = threading.Thread(target=self._collect, args=(stdin,), daemon=True)
        self._thread.start()

    def _collect(self, stdin: bytes | None) -> None:
        self._out = self._proc.communicate(stdin)

    def result(self, ok: frozenset[int] = OK0) -> GitResult:
        self._thread.join()
        out, err = self._out
        code = self._proc.returncode
        if code not in ok:
            raise GitFailed(self.argv, code, out, err)
        return GitResult(self.argv, code, out, err)


def start(*args: str, repo: Path, stdin: bytes | None = None) -> Pending:
    """Start `git args...` now and collect its output in the background (uses a second core)."""
    argv = ("git", *args)
    for tracer in _tracers:
        tracer(argv)
    proc = subprocess.Popen(
        argv, cwd=repo, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_env(),
    )
    return Pending(argv, proc, stdin)


def finish(proc: subprocess.Popen[bytes], argv: Iterable[str]) -> None:
    """Wait for a process started by popen_lines; raise GitFailed on a non-zero exit."""
    err = proc.stderr.read() if proc.stderr else b""
    code = proc.wait()
    if code != 0:
        raise GitFailed(tuple(argv), code, b"", err)


def resolve_commit(repo: Path, rev: str) -> Oid | None:
    """The commit id rev names, or None; rev is data, never an option."""
    res = run(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
        repo=repo, ok=frozenset({0, 1, 128}),
    )
    out = res.text.strip()
    if res.returncode != 0 or len(out) != 40:
        return None
    return Oid(out)


def is_ancestor(repo: Path, ancestor: Oid, descendant: Oid) -> bool:
    res = run("merge-base", "--is-ancestor", ancestor, descendant, repo=repo, ok=frozenset({0, 1}))
    return res.returncode == 0


def object_exists(repo: Path, oid: Oid) -> bool:
    res = run("cat-file", "-e", f"{oid}^{{commit}}", repo=repo, ok=frozenset({0, 1, 128}))
    return res.returncode == 0


# -- writing (revert branches) -------------------------------------------------------------------


def has_identity(repo: Path) -> bool:
    """Whether git can name a committer (user.name and user.email or their env variables)."""
    res = run("var", "GIT_COMMITTER_IDENT", repo=repo, ok=frozenset({0, 128}))
    return res.returncode == 0


def commit_tree(repo: Path, tree: str, parents: Iterable[str], message: str) -> Oid:
    """A commit of tree with parents; signed when the user's commit.gpgSign says so (git
    commit-tree reads that setting), so the operator's signing policy applies as for git commit."""
    args = ["commit-tree"]
    for parent in parents:
        args += ["-p", parent]
    args += ["-F", "-", "--end-of-options", tree]
    res = run(*args, repo=repo, stdin=message.encode())
    return Oid(res.text.strip())


def ref_value(repo: Path, ref: str) -> Oid | None:
    """The object id a full ref points at, or None when it does not exist (show-ref exit 1)."""
    res = run("show-ref", "--verify", "--hash", "--end-of-options", ref, repo=repo,
              ok=frozenset({0, 1, 128}))
    out = res.text.strip()
    return Oid(out) if res.returncode == 0 and len(out) == 40 else None


def is_valid_ref(repo: Path, ref: str) -> bool:
    if ref.startswith("-"):  # check-ref-format takes no --end-of-options (git 2.39: usage, 129)
        return False
    res = run("check-ref-format", ref, repo=repo, ok=frozenset({0, 1, 128, 129}))
    return res.returncode == 0


def update_ref_cas(repo: Path, ref: str, new: str, expected_old: str | None, reason: str) -> bool:
    """Move ref to new only if it still points at expected_old (None: must not exist).

    One `update-ref --stdin -z` transaction (git update-ref(1)); False when the swap was lost.
    """
    old = expected_old or ZERO_OID
    stdin = f"update {ref}\0{new}\0{old}\0".encode()
    res = run("update-ref", "--stdin", "-z", "-m", reason, repo=repo, stdin=stdin,
              ok=frozenset({0, 1, 128}))
    return res.returncode == 0


def push_ref(repo: Path, remote: str, ref: str) -> None:
    """Push one ref to the same name on remote, never forced."""
    run("push", "--porcelain", "--end-of-options", remote, f"{ref}:{ref}", repo=repo)

