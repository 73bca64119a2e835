"""gitcli.spawn / run: the posix_spawn runner that replaced subprocess on the common path.

Its risks are the ones subprocess handles for us: a full pipe in one direction while we block
on another, stdin left open, the working directory, exit codes, SIGPIPE, leaked processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import gitcli, repoinfo
from gitops.errors import GitFailed, RepositoryError
from tests.conftest import Repo


def test_megabytes_in_and_out_at_once_do_not_deadlock(make_repo: Callable[..., Repo]) -> None:
    """cat-file --batch answers 205 kB of input with 2.5 MB: git fills its output pipe long
    before it has read all of its input (more than a pipe holds), so both must move at once."""
    r = make_repo("r")
    blob = gitcli.hash_object_write(r.path, b"x" * 400)
    res = gitcli.run("cat-file", "--batch", repo=r.path, stdin=f"{blob}\n".encode() * 5000)
    assert res.stdout.count(b"x" * 400) == 5000
    assert res.returncode == 0 and res.stderr == b""


def test_exit_code_stderr_and_ok_set(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    with pytest.raises(GitFailed) as info:
        gitcli.run("rev-parse", "--verify", "no-such-ref", repo=r.path)
    assert info.value.returncode == 128 and b"single revision" in info.value.stderr
    res = gitcli.run("rev-parse", "--verify", "no-such-ref", repo=r.path, ok=frozenset({128}))
    assert res.returncode == 128 and res.stdout == b""


def test_runs_in_repo_not_in_our_working_directory(make_repo: Callable[..., Repo],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    r = make_repo("r")
    (r.path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)  # not a repository
    res = gitcli.run("rev-parse", "--show-prefix", repo=r.path / "sub")
    assert res.text.strip() == "sub/"
    assert Path.cwd() == tmp_path


def test_stdin_is_not_inherited(make_repo: Callable[..., Repo]) -> None:
    """Without stdin git reads /dev/null: a hook's own stdin (pre-receive's ref list) stays
    for the hook, and a git that reads stdin does not hang waiting for a terminal."""
    r = make_repo("r")
    res = gitcli.run("hash-object", "--stdin", repo=r.path)
    assert res.text.strip() == gitcli.run("hash-object", "--stdin", repo=r.path,
                                          stdin=b"").text.strip()


def test_started_git_runs_while_we_work_and_is_reaped(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    first = gitcli.spawn("rev-parse", "HEAD", repo=r.path)
    second = gitcli.spawn("cat-file", "--batch-check", repo=r.path, stdin=b"HEAD\n")
    head = first.result().text.strip()
    assert second.result().text.startswith(f"{head} commit ")
    with pytest.raises(ChildProcessError):  # both were waited for: no zombie is left
        os.waitpid(-1, os.WNOHANG)


def test_git_stopping_early_is_reported_not_raised_as_broken_pipe(
        make_repo: Callable[..., Repo]) -> None:
    """git exits without reading its input: its exit code decides, as with subprocess."""
    r = make_repo("r")
    res = gitcli.run("rev-parse", "--verify", "HEAD", repo=r.path, stdin=b"y" * 1_000_000)
    assert res.returncode == 0 and len(res.text.strip()) == 40


def test_missing_git_raises_file_not_found(make_repo: Callable[..., Repo],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    r = make_repo("r")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FileNotFoundError):
        gitcli.run("version", repo=r.path, env={"PATH": "/nonexistent"})


def test_tracers_see_the_logical_command_line(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    seen: list[tuple[str, ...]] = []
    gitcli.add_tracer(seen.append)
    try:
        gitcli.run("rev-parse", "HEAD", repo=r.path)
    finally:
        gitcli.remove_tracer(seen.append)
    assert seen == [("git", "rev-parse", "HEAD")]


def test_kill_stops_and_reaps_git(make_repo: Callable[..., Repo], tmp_path: Path) -> None:
    """An unwanted check (verify_ahead's, a probe of a missing directory) is killed: no zombie,
    no open pipe left, and a second kill is harmless."""
    r = make_repo("r")
    running = gitcli.spawn("cat-file", "--batch", repo=r.path, stdin=b"HEAD\n")
    running.kill()
    running.kill()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    with pytest.raises(RepositoryError):
        repoinfo.open_repository(tmp_path / "missing", repoinfo.probe(tmp_path / "missing"))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_held_stdin_waits_for_send(make_repo: Callable[..., Repo]) -> None:
    """hold_stdin: git starts at once and reads only what send() gives it, then end of input."""
    r = make_repo("r")
    data = b"told later\n" * 10_000  # more than a pipe holds: the rest goes in result()
    held = gitcli.spawn("hash-object", "--stdin", repo=r.path, hold_stdin=True)
    held.send(data)
    direct = gitcli.run("hash-object", "--stdin", repo=r.path, stdin=data)
    assert held.result().text == direct.text


def test_held_stdin_never_sent_is_end_of_input_not_a_hang(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    held = gitcli.spawn("hash-object", "--stdin", repo=r.path, hold_stdin=True)
    empty = gitcli.run("hash-object", "--stdin", repo=r.path, stdin=b"")
    assert held.result().text == empty.text
    plain = gitcli.spawn("version", repo=r.path)
    with pytest.raises(ValueError, match="not held"):
        plain.send(b"x")
    assert plain.result().text.startswith("git version")
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_branch_write_commits_and_swaps_only_from_the_expected_value(
        make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    head = r.git("rev-parse", "HEAD").strip()
    tree = r.git("rev-parse", "HEAD^{tree}").strip()
    write = gitcli.BranchWrite(r.path, "refs/heads/new", "test: write")
    commit = write.commit(tree, [head], "a message\n")
    assert write.swap(commit, None)
    write.discard()  # after swap: nothing left to stop
    assert r.git("rev-parse", "refs/heads/new").strip() == commit
    assert r.git("log", "-1", "--format=%B", commit).strip() == "a message"
    assert "test: write" in r.git("reflog", "-1", "refs/heads/new")
    lost = gitcli.BranchWrite(r.path, "refs/heads/new", "test: lost")
    assert not lost.swap(head, None)  # it exists now: the compare fails, nothing moves
    assert r.git("rev-parse", "refs/heads/new").strip() == commit
    other = gitcli.BranchWrite(r.path, "refs/heads/new", "test: moved")
    assert other.swap(head, commit)
    assert r.git("rev-parse", "refs/heads/new").strip() == head
    for w in (lost, other):  # the checks they never asked for are still running
        w.discard()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_branch_write_discard_leaves_no_process_and_no_ref(
        make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    before = r.git("for-each-ref")
    write = gitcli.BranchWrite(r.path, "refs/heads/never", "test")
    write.discard()
    assert r.git("for-each-ref") == before
    with pytest.raises(ChildProcessError):  # every process killed and reaped
        os.waitpid(-1, os.WNOHANG)
