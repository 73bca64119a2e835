"""Repo.update_tree (revert's tree writing) against trees `git mktree` builds (differential).

update_tree edits most directories by splicing their raw bytes (Repo._splice) and leaves the rest
to libgit2's TreeBuilder; either way the tree must be the one git writes for the same entries.
Generated trees have names with spaces, digits and mode-like text, entries sharing a blob, and
directories; the hand-made ones below carry the modes old gits wrote (100664, zero-padded),
which git reads as 100644 and a splice must not be fooled by.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.repo import Repo

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


def test_a_plain_directory_is_spliced_not_rebuilt(repo: Path) -> None:
    """The splice must be what runs for the usual revert shape (else the differential test
    above only exercises libgit2): entries removed and replaced, each blob distinct."""
    ids = [blob(repo, f"v{i}") for i in range(6)]
    tree = mktree(repo, {f"r{i}.toml": (ids[i], 0o100644) for i in range(4)})
    r = Repo(repo)
    new = r._splice(r._r[tree], {"r1.toml": None, "r2.toml": (ids[5], 0o100755)})
    assert isinstance(new, str)
    assert new == mktree(repo, {"r0.toml": (ids[0], 0o100644), "r2.toml": (ids[5], 0o100755),
                                "r3.toml": (ids[3], 0o100644)})
    assert r._splice(r._r[tree], {"new.toml": (ids[5], 0o100644)}) is False  # placed by libgit2


def test_an_entry_after_an_id_ending_in_a_digit_is_still_spliced(repo: Path) -> None:
    """An id's last byte is an ASCII octal digit one time in 32: the entry after it still
    starts right there, and the splice must see that (the 26 directories of a revert would
    otherwise fall back to libgit2 a quarter of the time)."""
    ids = (blob(repo, f"v{i}") for i in range(2000))
    digit = next(i for i in ids if bytes.fromhex(i)[-1:] in (b"0", b"1", b"2", b"3", b"4",
                                                            b"5", b"6", b"7"))
    other = blob(repo, "other")
    tree = mktree(repo, {"a": (digit, 0o100644), "b": (other, 0o100644)})
    r = Repo(repo)
    assert r._splice(r._r[tree], {"b": None}) == mktree(repo, {"a": (digit, 0o100644)})


def test_old_modes_and_lookalike_names_are_not_spliced_wrongly(repo: Path) -> None:
    """Entries git reads as 100644 but were written as 100664 or 0100644, next to a name that
    ends in the canonical bytes of such an entry (same blob): a search for the canonical bytes
    finds the lookalike; the result must still be the edit git would make."""
    same = blob(repo, "same")
    other = blob(repo, "other")
    for mode in (b"100664", b"0100644"):
        tree = literal_tree(repo, [
            (b"100644", "0 100644 a", same),  # its tail + id reads as "100644 a\0<same>"
            (mode, "a", same),
            (b"100644", "b", other),
        ])
        got = Repo(repo).update_tree(tree, {"a": None})
        expected = mktree(repo, {"0 100644 a": (same, 0o100644), "b": (other, 0o100644)})
        assert listing(repo, got) == listing(repo, expected), mode
        replaced = Repo(repo).update_tree(tree, {"a": (other, 0o100644)})
        assert listing(repo, replaced) == listing(repo, mktree(repo, {
            "0 100644 a": (same, 0o100644), "a": (other, 0o100644), "b": (other, 0o100644)}))
    # alone, a zero-padded entry still holds the canonical bytes, one digit in: cutting
    # those would leave the digit behind (here at the end of the tree)
    tree = literal_tree(repo, [(b"100644", "a", other), (b"0100644", "b", same)])
    got = Repo(repo).update_tree(tree, {"b": None})
    assert got == mktree(repo, {"a": (other, 0o100644)})


def test_a_short_mode_is_not_taken_for_a_canonical_one(repo: Path) -> None:
    """libgit2 reads a mode written as 644 as 100644; the canonical bytes are longer, so
    counting back from the id would start the cut inside the entry before."""
    a, b = blob(repo, "a\n"), blob(repo, "b\n")
    tree = literal_tree(repo, [(b"100644", "a", a), (b"644", "b", b)])
    got = Repo(repo).update_tree(tree, {"b": None})
    assert got == mktree(repo, {"a": (a, 0o100644)})


def test_an_edit_naming_a_missing_blob_is_refused_like_libgit2(repo: Path) -> None:
    ids = [blob(repo, f"v{i}") for i in range(2)]
    tree = mktree(repo, {"a": (ids[0], 0o100644), "b": (ids[1], 0o100644)})
    r = Repo(repo)
    assert r._splice(r._r[tree], {"a": ("1" * 40, 0o100644)}) is False


def test_a_tree_already_stored_loose_is_touched_not_written_again(repo: Path) -> None:
    """As git does for an object it would write again, so that a concurrent gc counts it as
    new: its loose file gets a fresh time; a new tree is stored and readable by git."""
    ids = [blob(repo, f"v{i}") for i in range(3)]
    tree = mktree(repo, {f"r{i}.toml": (ids[i], 0o100644) for i in range(3)})
    first = Repo(repo).update_tree(tree, {"r1.toml": None})
    loose = repo / ".git" / "objects" / first[:2] / first[2:]
    assert loose.is_file() and git(repo, "cat-file", "-t", first) == "tree"
    os.utime(loose, (1_000_000, 1_000_000))
    assert Repo(repo).update_tree(tree, {"r1.toml": None}) == first
    assert loose.stat().st_mtime > 1_000_000
