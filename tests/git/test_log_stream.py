"""log.parse_log_stream: the same records as parse_log over the whole output, however git's
output is cut into chunks, and each record before the output ends (index updates stop
reading a history walk as soon as they have what they need)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.git import plumbing, process
from gitops.history import log
from tests.conftest import Repo

HEX40 = "0123456789abcdef" * 2 + "01234567"


@pytest.fixture(scope="module")
def log_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """`git log LOG_FORMAT LOG_DIFF` of a history built to trip a separator-based parser."""
    path = tmp_path_factory.mktemp("stream") / "r"
    path.mkdir()

    def git(*args: str, stdin: bytes | None = None) -> str:
        return subprocess.run(["git", *args], cwd=path, input=stdin, capture_output=True,
                              check=True).stdout.decode()

    git("init", "-q", "-b", "main")
    messages = [
        "plain\n\nBatch-Id: 2026-03-03-001\n",
        "\x1estarts with the record separator\n",
        f"\x1e{HEX40}\n",  # looks like a record start
        "line\n\n\x1e\n:100644 100644 x y M\n",  # looks like a change list
        "empty commit\n",
    ]
    for n, msg in enumerate(messages):
        if n != 4:
            name = ["a.toml", "dir with space/b.toml", "new\nline.toml", "\x1ehead.toml"][n]
            full = path / name
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(f"{n}\n")
            git("add", "-A")
        git("commit", "-q", "--allow-empty", "-F", "-", stdin=msg.encode())
    for i in range(300):  # one commit with a long change list
        (path / "many" / f"f{i}.toml").parent.mkdir(exist_ok=True)
        (path / "many" / f"f{i}.toml").write_text(f"{i}\n")
    git("add", "-A")
    git("commit", "-q", "-m", "many files")
    git("checkout", "-q", "-b", "side", "HEAD~2")
    (path / "side.toml").write_text("s\n")
    git("add", "-A")
    git("commit", "-q", "-m", "side")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    return subprocess.run(["git", "log", plumbing.LOG_FORMAT, *plumbing.LOG_DIFF], cwd=path,
                          capture_output=True, check=True).stdout


def chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    edges = sorted({min(c, len(data)) for c in cuts})
    start = 0
    for edge in [*edges, len(data)]:
        yield data[start:edge]
        start = edge


def test_whole_log_parses_as_expected(log_bytes: bytes) -> None:
    records = list(log.parse_log(log_bytes))
    assert len(records) == 8
    subjects = [r.info.subject for r in records]
    assert subjects[0] == "merge side" and "many files" in subjects
    assert any(r.message == f"\x1e{HEX40}\n" for r in records)
    paths = {c.path for r in records for c in r.changes}
    assert {"new\nline.toml", "\x1ehead.toml", "dir with space/b.toml"} <= paths
    assert len(next(r for r in records if r.info.subject == "many files").changes) == 300


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=40))
def test_any_chunking_gives_the_same_records(log_bytes: bytes, cuts: list[int]) -> None:
    assert list(log.parse_log_stream(chunked(log_bytes, cuts))) == list(
        log.parse_log(log_bytes))


def test_byte_by_byte_and_each_record_before_the_end(log_bytes: bytes) -> None:
    whole = list(log.parse_log(log_bytes))
    seen: list[int] = []

    def feed() -> Iterator[bytes]:
        for pos in range(len(log_bytes)):
            seen.append(pos)
            yield log_bytes[pos:pos + 1]

    stream = log.parse_log_stream(feed())
    first = next(stream)
    assert first == whole[0] and seen[-1] < len(log_bytes) - 1  # before the output ended
    assert [first, *stream] == whole


def test_running_stream_stops_git_when_the_reader_stops(make_repo: Callable[..., Repo]) -> None:
    r = make_repo("r")
    for i in range(30):
        r.commit(f"c{i}\n", {"f": f"{i}\n"})
    with process.stream("log", plumbing.LOG_FORMAT, *plumbing.LOG_DIFF, "HEAD",
                        repo=r.path, chunk=256) as chunks:
        assert next(log.parse_log_stream(chunks)).info.subject == "c29"
    # leaving the block killed git
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
