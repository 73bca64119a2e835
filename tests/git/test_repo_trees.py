"""Repo.update_tree (revert's tree writing) against trees `git mktree` builds (differential).

update_tree edits most directories by splicing their raw bytes (Repo._splice) and leaves the rest
to libgit2's TreeBuilder; either way the tree must be the one git writes for the same entries.
Generated trees have names with spaces, digits and mode-like text, entries sharing a blob, and
directories; the hand-made ones below carry the modes old gits wrote (100664, zero-padded),
which git reads as 100644 and a splice must not be fooled by.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.git.objects import Repo

Entry = tuple[str, int]  # (blob id, mode), as update_tree takes them
DIR = 0o40000


def git(repo: Path, *args: str, stdin: bytes = b"") -> str:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True,
                          check=True).stdout.decode().strip()


def blob(repo: Path, text: str) -> str:
    return git(repo, "hash-object", "-w", "--stdin", stdin=text.encode())


def mktree(repo: Path, entries: dict[str, tuple[str, int]]) -> str:
    """The tree git writes for name -> (id, mode) (mode 040000: a subtree)."""
    lines = b"".join(
        f"{mode:06o} {'tree' if mode == DIR else 'blob'} {oid}\t{name}\0".encode()
        for name, (oid, mode) in entries.items())
    return git(repo, "mktree", "-z", stdin=lines)


def literal_tree(repo: Path, entries: list[tuple[bytes, str, str]]) -> str:
    """A tree object written byte for byte (raw mode text, name, id), as old gits wrote them."""
    data = b"".join(mode + b" " + name.encode() + b"\0" + bytes.fromhex(oid)
                    for mode, name, oid in entries)
    return git(repo, "hash-object", "-t", "tree", "--literally", "-w", "--stdin", stdin=data)


def listing(repo: Path, tree: str) -> str:
    """`git ls-tree -r`: entries as git reads them (modes canonical)."""
    return git(repo, "ls-tree", "-r", "-z", tree)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


NAMES = st.text(alphabet="ab0146 .-", min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..") and n.strip() == n)
CONTENTS = st.sampled_from(["x", "y", "z", "recipe", ""])  # few contents: shared blob ids
MODES = st.sampled_from([0o100644, 0o100755])


@st.composite
def trees_and_edits(draw: st.DrawFn) -> tuple[dict[str, tuple[str, int]],
                                               dict[str, tuple[str, int] | None]]:
    """(files: path -> (content, mode), edits: path -> (content, mode) | None)."""
    files = draw(st.dictionaries(NAMES, st.tuples(CONTENTS, MODES), min_size=1, max_size=12))
    if draw(st.booleans()):  # a subdirectory too
        sub = draw(st.dictionaries(NAMES, st.tuples(CONTENTS, MODES), min_size=1, max_size=4))
        name = draw(NAMES.filter(lambda n: n not in files))
        files.update({f"{name}/{k}": v for k, v in sub.items()})
    paths = sorted(files)
    edits: dict[str, tuple[str, int] | None] = {}
    for path in draw(st.lists(st.sampled_from(paths), unique=True, max_size=len(paths))):
        edits[path] = draw(st.none() | st.tuples(CONTENTS, MODES))
    for path in draw(st.lists(NAMES, max_size=3)):  # new names, or absent ones to delete
        if not any(p == path or p.startswith(path + "/") or path.startswith(p + "/")
                   for p in files):
            edits[path] = draw(st.none() | st.tuples(CONTENTS, MODES))
    return files, edits


def build(repo: Path, files: dict[str, tuple[str, int]], blobs: dict[str, str]) -> str:
    """The tree of path -> (content, mode), nested directories included, made by git."""
    top: dict[str, tuple[str, int]] = {}
    subs: dict[str, dict[str, tuple[str, int]]] = {}
    for path, (content, mode) in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            subs.setdefault(head, {})[rest] = (content, mode)
        else:
            top[head] = (blobs[content], mode)
    for name, sub in subs.items():
        top[name] = (build(repo, sub, blobs), DIR)
    return mktree(repo, top)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=trees_and_edits())
def test_update_tree_writes_the_tree_git_writes(
        repo: Path, case: tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int] | None]]
) -> None:
    files, edits = case
    blobs = {c: blob(repo, c) for c in ("x", "y", "z", "recipe", "")}
    before = build(repo, files, blobs)
    after_files = dict(files)
    for path, value in edits.items():
        if value is None:
            after_files.pop(path, None)
        else:
            after_files[path] = value
    expected = build(repo, after_files, blobs) if after_files else git(
        repo, "mktree", stdin=b"")
    got = Repo(repo).update_tree(before, {
        p: None if v is None else (blobs[v[0]], v[1]) for p, v in edits.items()})
    assert got == expected
    assert git(repo, "cat-file", "-t", got) == "tree"  # stored, not only computed
