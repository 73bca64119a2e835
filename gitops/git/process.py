"""Every process starts here: one subprocess wrapper with the environment policy and a tracer.

`run()` waits for git and returns its output; `start()` lets git work while the caller does
something else; `stream()` hands git's output over as it comes (a history walk read while git
works, or only as far as needed); `feed()` streams a large input into git (fast-import). All
four build argv, trace it and pick the environment the same way, and all raise GitFailed, which
carries argv, exit code, stdout and stderr, unless the exit code is one the caller expects.

Callers pass options first, `--end-of-options` before any value a user typed and `--` before
paths; better still they resolve user revisions to object ids first, so only 40-hex ids reach
later command lines (STYLE.md P2).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, NamedTuple, NewType

from gitops.errors import GitFailed

Oid = NewType("Oid", str)
ZERO_OID = Oid("0" * 40)
StrPath = str | os.PathLike[str]

OK0 = frozenset({0})
ANY_EXIT = frozenset(range(-64, 256))  # the caller reads the exit code itself

# Inherited GIT_* variables that describe the user's environment rather than a repository;
# everything else (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...) would point git at the wrong place
# when we run it on a repository other than the caller's (pre-commit's git.no_git_env does this).
_KEEP_GIT_VARS = frozenset({
    "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE",
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_ASKPASS", "GIT_EXEC_PATH",
    "GIT_TRACE", "GIT_CEILING_DIRECTORIES",
})

Tracer = Callable[[tuple[str, ...]], None]
_tracers: list[Tracer] = []


def add_tracer(fn: Tracer) -> None:
    """Call fn(argv) before every process (tests record argv; --debug prints it)."""
    _tracers.append(fn)


def remove_tracer(fn: Tracer) -> None:
    _tracers.remove(fn)


def debug_tracer(argv: tuple[str, ...]) -> None:
    sys.stderr.write("+ " + " ".join(argv) + "\n")


def git_env(*, keep_repo_vars: bool = False, extra: dict[str, str] | None = None
            ) -> dict[str, str]:
    """The environment handed to git: C locale, never prompts, never opens an editor or a
    pager, and never reads replace refs (`git replace` must not change what a batch was or what
    the signed ops state says; gitops reads history as it was committed)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") or k in _KEEP_GIT_VARS or keep_repo_vars}
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0", GIT_EDITOR="false",
               GIT_PAGER="cat", GIT_NO_REPLACE_OBJECTS="1")
    if extra:
        env.update(extra)
    return env


class GitResult(NamedTuple):
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")


def _argv(args: tuple[str, ...]) -> tuple[str, ...]:
    argv = ("git", *args)
    for tracer in _tracers:
        tracer(argv)
    return argv


def _checked(argv: tuple[str, ...], code: int, out: bytes, err: bytes, ok: frozenset[int]
             ) -> GitResult:
    if code not in ok:
        raise GitFailed(argv, code, out, err)
    return GitResult(argv, code, out, err)


def run(*args: str, repo: StrPath, stdin: bytes | None = None, ok: frozenset[int] = OK0,
        env: dict[str, str] | None = None, timeout: float | None = None) -> GitResult:
    """Run `git args...` in repo; GitFailed unless its exit code is in ok.

    timeout: seconds, after which git is killed and TimeoutError raised (a remote that does
    not answer)."""
    argv = _argv(args)
    try:
        proc = subprocess.run(argv, cwd=repo, input=stdin, capture_output=True, check=False,
                              env=env if env is not None else git_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{' '.join(argv[:3])} did not finish in {timeout} s") from None
    return _checked(argv, proc.returncode, proc.stdout, proc.stderr, ok)


class Running:
    """A git process started by start(): it writes to temporary files, so it never waits for
    the caller, who collects the output with result() or stops it with kill()."""

    def __init__(self, argv: tuple[str, ...], repo: StrPath, stdin: bytes | None) -> None:
        self.argv = argv
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by result() or kill()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by result() or kill()
        with _input(stdin) as source:
            self._proc = subprocess.Popen(argv, cwd=repo, stdin=source, stdout=self._out,
                                          stderr=self._err, env=git_env())

    def result(self, ok: frozenset[int] = OK0) -> GitResult:
        """Wait for git; its output, or GitFailed unless its exit code is in ok."""
        try:
            code = self._proc.wait()
        except BaseException:  # ^C: do not leave git running behind us
            self.kill()
            raise
        out, err = _read_all(self._out), _read_all(self._err)
        return _checked(self.argv, code, out, err, ok)

    def kill(self) -> None:
        """Stop git if it still runs (its answer is not wanted any more) and reap it."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._out.close()
        self._err.close()


def _read_all(fh: IO[bytes]) -> bytes:
    fh.seek(0)
    data = fh.read()
    fh.close()
    return data


@contextlib.contextmanager
def _input(data: bytes | None) -> Iterator[IO[bytes] | int]:
    """What git reads as stdin: nothing (/dev/null), or data from a temporary file. A file, not
    a pipe: git may write megabytes before it has read all of its input (cat-file --batch
    answers as it reads), and nobody is writing to a pipe while we read its output."""
    if data is None:
        yield subprocess.DEVNULL
        return
    with tempfile.TemporaryFile() as fh:
        fh.write(data)
        fh.seek(0)
        yield fh


def start(*args: str, repo: StrPath, stdin: bytes | None = None) -> Running:
    """Start `git args...` in repo now; Running.result() collects it (git runs on another core
    meanwhile)."""
    return Running(_argv(args), repo, stdin)


class Stream:
    """git's stdout as it arrives, for a long walk read while git still works (see stream()).

    A thread keeps git's pipe drained into a bounded queue, so git computes on its own core
    even while the reader is busy with something else; a use of it is a `with` block, and
    leaving the block early kills git: a history walk is read only as far as it is needed."""

    def __init__(self, argv: tuple[str, ...], repo: StrPath, stdin: bytes | None,
                 ok: frozenset[int], chunk: int) -> None:
        self.argv, self._ok, self._chunk = argv, ok, chunk
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        with _input(stdin) as source:
            self._proc = subprocess.Popen(argv, cwd=repo, stdin=source, stdout=subprocess.PIPE,
                                          stderr=self._err, env=git_env())
        self._chunks: queue.Queue[bytes] = queue.Queue(maxsize=1024)  # at most 64 MiB ahead
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        data = b"x"
        while data and not self._stop.is_set():
            try:  # whole chunks (a buffered read): the thread wants the interpreter rarely
                data = self._proc.stdout.read(self._chunk)
            except (OSError, ValueError):  # closed by close(): the reader left
                data = b""
            while not self._stop.is_set():  # b"" too: it tells the reader that git is done
                try:
                    self._chunks.put(data, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def __iter__(self) -> Iterator[bytes]:
        while data := self._chunks.get():
            yield data
        code = self._proc.wait()
        _checked(self.argv, code, b"", _read_all(self._err), self._ok)

    def close(self) -> None:
        """Stop git if it still runs and reap it, and the thread that read it."""
        self._stop.set()
        if self._proc.poll() is None:
            self._proc.kill()
        self._reader.join()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._err.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(*args: str, repo: StrPath, stdin: bytes | None = None, ok: frozenset[int] = OK0,
           chunk: int = 1 << 16) -> Stream:
    """Start `git args...` now; iterating the result gives its stdout as it arrives, and
    GitFailed at the end unless its exit code is in ok. Use it in a `with` block."""
    return Stream(_argv(args), repo, stdin, ok, chunk)


def feed(*args: str, repo: StrPath, chunks: Iterable[bytes], ok: frozenset[int] = OK0
         ) -> GitResult:
    """Run `git args...` with stdin fed from chunks as they are made (fast-import): the
    producer and git work at the same time, and the input never sits in memory whole."""
    argv = _argv(args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=repo, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                env=git_env())
        assert proc.stdin is not None
        try:
            try:
                for piece in chunks:
                    proc.stdin.write(piece)
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
        return _checked(argv, code, out.read(), err.read(), ok)


def run_program(path: StrPath, args: Iterable[str], *, cwd: StrPath, stdin: bytes | None
                ) -> int:
    """Run a chained (legacy) hook with the hook's own environment and our stdout/stderr."""
    argv = (os.fspath(path), *args)
    for tracer in _tracers:
        tracer(argv)
    sys.stdout.flush()
    return subprocess.run(argv, cwd=cwd, input=stdin, check=False).returncode
