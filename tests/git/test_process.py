"""git.process: run, start, stream, feed, and what they promise: no deadlock on full pipes, no
inherited stdin, git runs in the repository, exit codes decide, nothing is left running."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.errors import GitFailed
from gitops.git import plumbing, process
from tests.conftest import Repo


def test_megabytes_in_and_out_at_once_do_not_deadlock(make_repo: Callable[..., Repo]) -> None:
    """cat-file --batch answers 205 kB of input with 2.5 MB: git fills its output pipe long
    before it has read all of its input (more than a pipe holds), so both must move at once."""
    r = make_repo("r")
    blob = plumbing.hash_object_write(r.path, b"x" * 400)
    res = process.run("cat-file", "--batch", repo=r.path, stdin=f"{blob}\n".encode() * 5000)
    assert res.stdout.count(b"x" * 400) == 5000
    assert res.returncode == 0 and res.stderr == b""


def test_exit_code_stderr_and_ok_set(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    with pytest.raises(GitFailed) as info:
        process.run("rev-parse", "--verify", "no-such-ref", repo=r.path)
    assert info.value.returncode == 128 and b"single revision" in info.value.stderr
    res = process.run("rev-parse", "--verify", "no-such-ref", repo=r.path, ok=frozenset({128}))
    assert res.returncode == 128 and res.stdout == b""


def test_runs_in_repo_not_in_our_working_directory(make_repo: Callable[..., Repo],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    r = make_repo("r")
    (r.path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)  # not a repository
    res = process.run("rev-parse", "--show-prefix", repo=r.path / "sub")
    assert res.text.strip() == "sub/"
    assert Path.cwd() == tmp_path


def test_stdin_is_not_inherited(make_repo: Callable[..., Repo]) -> None:
    """Without stdin git reads /dev/null: a hook's own stdin (pre-receive's ref list) stays
    for the hook, and a git that reads stdin does not hang waiting for a terminal."""
    r = make_repo("r")
    res = process.run("hash-object", "--stdin", repo=r.path)
    assert res.text.strip() == process.run("hash-object", "--stdin", repo=r.path,
                                          stdin=b"").text.strip()


def test_started_git_runs_while_we_work_and_is_reaped(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    first = process.start("rev-parse", "HEAD", repo=r.path)
    second = process.start("cat-file", "--batch-check", repo=r.path, stdin=b"HEAD\n")
    head = first.result().text.strip()
    assert second.result().text.startswith(f"{head} commit ")
    with pytest.raises(ChildProcessError):  # both were waited for: no zombie is left
        os.waitpid(-1, os.WNOHANG)


def test_git_stopping_early_is_reported_not_raised_as_broken_pipe(
        make_repo: Callable[..., Repo]) -> None:
    """git exits without reading its input: its exit code decides, as with subprocess."""
    r = make_repo("r")
    res = process.run("rev-parse", "--verify", "HEAD", repo=r.path, stdin=b"y" * 1_000_000)
    assert res.returncode == 0 and len(res.text.strip()) == 40


def test_missing_git_raises_file_not_found(make_repo: Callable[..., Repo],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    r = make_repo("r")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FileNotFoundError):
        process.run("version", repo=r.path, env={"PATH": "/nonexistent"})


def test_tracers_see_the_logical_command_line(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    seen: list[tuple[str, ...]] = []
    process.add_tracer(seen.append)
    try:
        process.run("rev-parse", "HEAD", repo=r.path)
    finally:
        process.remove_tracer(seen.append)
    assert seen == [("git", "rev-parse", "HEAD")]


def test_kill_stops_and_reaps_git(make_repo: Callable[..., Repo]) -> None:
    """A walk whose answer is not wanted any more is killed: no zombie, and a second kill is
    harmless."""
    r = make_repo("r")
    running = process.start("cat-file", "--batch", repo=r.path, stdin=b"HEAD\n")
    running.kill()
    running.kill()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_stream_gives_all_output_and_checks_the_exit_code(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    blob = plumbing.hash_object_write(r.path, b"y" * 1000)
    with process.stream("cat-file", "--batch", repo=r.path,
                        stdin=f"{blob}\n".encode() * 300, chunk=4096) as chunks:
        data = b"".join(chunks)
    assert data.count(b"y" * 1000) == 300
    with pytest.raises(GitFailed), process.stream("rev-parse", "--verify", "no-such-ref",
                                                  repo=r.path) as failing:
        list(failing)


def test_a_stream_left_early_stops_git(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    blob = plumbing.hash_object_write(r.path, b"z" * 1000)
    with process.stream("cat-file", "--batch", repo=r.path,
                        stdin=f"{blob}\n".encode() * 2000, chunk=1024) as walk:
        assert next(iter(walk))
    with pytest.raises(ChildProcessError):  # git was killed and reaped
        os.waitpid(-1, os.WNOHANG)


def test_a_stream_never_read_is_stopped_too(make_repo: Callable[..., Repo]) -> None:
    """git started by stream() and never read (the reader failed first) is killed on leaving
    the block, even with its pipe and the read-ahead queue full."""
    r = make_repo("r")
    blob = plumbing.hash_object_write(r.path, b"w" * 4096)
    with process.stream("cat-file", "--batch", repo=r.path, stdin=f"{blob}\n".encode() * 20000,
                        chunk=1024):
        pass
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_feed_streams_its_input(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    chunks = (b"line %d\n" % i for i in range(100_000))
    res = process.feed("hash-object", "--stdin", repo=r.path, chunks=chunks)
    expected = process.run("hash-object", "--stdin", repo=r.path,
                           stdin=b"".join(b"line %d\n" % i for i in range(100_000)))
    assert res.text == expected.text


def test_replace_refs_are_never_read(make_repo: Callable[..., Repo]) -> None:
    """git_env turns replace objects off: history reads as it was committed."""
    r = make_repo("r")
    head = r.head()
    fake = r.git("commit-tree", "-m", "forged", r.head("HEAD^{tree}")).strip()
    r.git("replace", head, fake)
    assert r.git("log", "-1", "--format=%s").strip() == "forged"
    assert process.run("log", "-1", "--format=%s", repo=r.path).text.strip() == "initial"


def test_readable_parts_isolates_the_items_git_cannot_read(make_repo: Callable[..., Repo]
                                                           ) -> None:
    repo = make_repo()
    good = [repo.commit(f"c{i}\n", {f"f{i}": f"{i}\n"}) for i in range(5)]
    missing = ["1" * 40, "2" * 40]
    items = [good[0], missing[0], *good[1:4], missing[1], good[4]]

    def show(part: list[str]) -> list[str]:
        out = process.run("show", "-s", "--format=%H", *part, repo=repo.path).text.split()
        assert len(out) == len(part)
        return out

    done, failed = plumbing.readable_parts(items, show)
    assert sorted(failed) == missing and all(failed.values())
    assert sorted(oid for _part, found in done for oid in found) == sorted(good)
    assert len(done) < len(good)  # the readable ones run together, not one by one
    with pytest.raises(GitFailed):  # everything failing is git failing: its error surfaces
        plumbing.readable_parts(missing, show)
