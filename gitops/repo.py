"""The only module that imports pygit2: open a repository, read trees and blobs, build trees.

It never moves refs and never signs; commits that must honour the user's signing setup are made
by `git commit-tree` through gitcli. Anything pygit2's stubs leave as Any stays inside here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pygit2

from gitops.errors import RepositoryError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from gitops.gitcli import StrPath

BLOB_MODE = pygit2.GIT_FILEMODE_BLOB
EXEC_MODE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
TREE_MODE = pygit2.GIT_FILEMODE_TREE
LINK_MODE = pygit2.GIT_FILEMODE_LINK
_SPLICE_MODES = frozenset({BLOB_MODE, EXEC_MODE, LINK_MODE})  # entries whose id is an object here

# libgit2 keeps parsed trees of at most 4 KiB in its object cache. A registry's recipe directory
# holds thousands of entries (100+ KiB), so every `tree[path]` re-read and re-parsed it: 0.7 ms a
# lookup, most of a revert's plan on a large registry. Cache trees up to 4 MiB (the cache's total
# is still bounded by libgit2's 256 MiB default).
pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, 4 << 20)

# libgit2 re-hashes every object it reads to check it against its id; git does not when it
# reads objects for a command like this one (fsck and fetch do). Half of the time to read a
# revert's 26 letter directories on the 200k-commit demo (5.7 -> 2.5 ms).
pygit2.settings.enable_strict_hash_verification(False)

# path -> (blob id, file mode), or None to delete the path
TreeEdit = Mapping[str, "tuple[str, int] | None"]


def _after_entry(raw: bytes, at: int, odb: Any) -> bool:
    """Whether raw[at] follows a whole tree entry although a digit precedes it: the 20 bytes
    before are an object's id, the previous entry's. (Were they the tail of that id and the
    first digits of a longer mode instead, they would be no object's id.)"""
    return at >= 20 and pygit2.Oid(raw=raw[at - 20:at]) in odb


def is_valid_ref_name(name: str) -> bool:
    """Whether name is a full ref name git accepts (git-check-ref-format(1)), checked by libgit2
    without starting git: it agrees with `git check-ref-format` on every name under refs/
    (tests/git/test_repo_refnames.py compares them); outside refs/ the answer is False."""
    return name.startswith("refs/") and bool(pygit2.reference_is_valid_name(name))


class Repo:
    """A pygit2 repository with the few reads and writes the core needs."""

    def __init__(self, path: StrPath) -> None:
        try:
            self._r: Any = pygit2.Repository(os.fspath(path))
        except pygit2.GitError as exc:
            raise RepositoryError(f"{path}: cannot open the repository: {exc}.") from None

    def entry(self, commit: str, path: str) -> tuple[str, int] | None:
        """(blob id, mode) of path in commit's tree, or None when absent or not a file."""
        tree = self._r[commit].peel(pygit2.Tree)
        try:
            obj = tree[path]
        except KeyError:
            return None
        if obj.type != pygit2.GIT_OBJECT_BLOB:
            return None
        return str(obj.id), int(obj.filemode)

    def entries(self, commit: str, paths: Iterable[str]) -> dict[str, tuple[str, int] | None]:
        tree = self._r[commit].peel(pygit2.Tree)
        out: dict[str, tuple[str, int] | None] = {}
        for path in paths:
            try:
                obj = tree[path]
            except KeyError:
                out[path] = None
                continue
            out[path] = ((str(obj.id), int(obj.filemode))
                         if obj.type == pygit2.GIT_OBJECT_BLOB else None)
        return out

    def first_parent(self, commit: str) -> str | None:
        parents = self._r[commit].parent_ids
        return str(parents[0]) if parents else None

    def tree_of(self, commit: str) -> str:
        return str(self._r[commit].peel(pygit2.Tree).id)

    def blob(self, oid: str) -> bytes:
        data: bytes = self._r[oid].data
        return data

    def write_blob(self, data: bytes) -> str:
        return str(self._r.create_blob(data))

    def merge_blobs(self, path: str, base: tuple[str, int], ours: tuple[str, int],
                    theirs: tuple[str, int]) -> bytes | None:
        """Three-way merge of one file; the merged bytes, or None on a conflict."""
        res = self._r.merge_file_from_index(
            pygit2.IndexEntry(path, pygit2.Oid(hex=base[0]), pygit2.enums.FileMode(base[1])),
            pygit2.IndexEntry(path, pygit2.Oid(hex=ours[0]), pygit2.enums.FileMode(ours[1])),
            pygit2.IndexEntry(path, pygit2.Oid(hex=theirs[0]), pygit2.enums.FileMode(theirs[1])),
        )
        if not res.automergeable:
            return None
        return str(res.contents).encode("utf-8", "surrogateescape")

    def update_tree(self, tree: str, edits: TreeEdit) -> str:
        """A new tree: tree with edits applied; only the subtrees on edited paths are rebuilt."""
        return self._update(self._r[tree], edits) or self._empty_tree()

    def _empty_tree(self) -> str:
        return str(self._r.TreeBuilder().write())

    def _update(self, tree: Any, edits: TreeEdit) -> str | None:
        files: dict[str, tuple[str, int] | None] = {}
        nested: dict[str, dict[str, tuple[str, int] | None]] = {}
        for path, value in edits.items():
            head, sep, rest = path.partition("/")
            if sep:
                nested.setdefault(head, {})[rest] = value
            else:
                files[head] = value
        if tree is not None and not nested:
            spliced = self._splice(tree, files)
            if spliced is not False:
                return spliced
        builder = self._r.TreeBuilder(tree) if tree is not None else self._r.TreeBuilder()
        for name, value in files.items():
            if value is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, pygit2.Oid(hex=value[0]), value[1])
        for name, sub in nested.items():
            existing = builder.get(name)
            is_tree = existing is not None and existing.type == pygit2.GIT_OBJECT_TREE
            new = self._update(self._r[existing.id] if is_tree else None, sub)
            if new is None:
                # Only a directory emptied here goes: a file may just have been put in its
                # place above (a revert re-creating dir.toml and deleting dir.toml/inner.toml).
                if is_tree:
                    builder.remove(name)
            else:
                builder.insert(name, pygit2.Oid(hex=new), TREE_MODE)
        if len(builder) == 0:
            return None  # git has no empty subtrees: the caller drops the entry
        return str(builder.write())

    def _splice(self, tree: Any, files: Mapping[str, tuple[str, int] | None]
                ) -> str | Literal[False] | None:
        """tree with files (its own entries) replaced or removed, written from its raw bytes;
        None when it ends up empty; False when libgit2 must build it instead.

        A revert rewrites a few entries in each of dozens of directories of thousands of
        entries; libgit2's TreeBuilder copies, sorts and re-prints every entry of each (the
        bench revert on the 200k-commit demo: 48 -> 39 ms in process this way). Here each edited
        entry is cut out of the raw tree or replaced in place, so the entries left alone keep
        their bytes and their order. Only an entry that can be found for certain is edited this
        way: its id occurs once in the tree, right after its mode (as git writes it) and name,
        so the id pins where the entry ends; and they start the entry: no digit precedes them,
        or the previous entry's id does (a longer, non-canonical mode written before the same
        name, as old gits wrote 0100644, would show as digits there). A new name (whose place in
        the sorted order libgit2 works out), a directory, a blob id shared with another entry,
        or an odd mode: False. tests/git/test_repo_trees.py compares the trees with `git
        mktree`'s.
        """
        if len(tree.id.raw) != 20:
            return False  # SHA-256 repositories: hashlib below computes SHA-1 ids
        raw: bytes = tree.read_raw()
        odb = self._r.odb
        cuts: list[tuple[int, int, bytes]] = []
        for name, value in files.items():
            key = name.encode("utf-8", "surrogateescape")
            try:
                old = tree[name]
            except KeyError:
                if value is None:
                    continue  # nothing to remove
                return False
            if old.filemode not in _SPLICE_MODES:
                return False
            oid = old.id.raw
            head = b"%o %b\0" % (old.filemode, key)
            found = raw.find(oid)  # the id once, right after the entry's mode and name
            at = found - len(head)
            if (found < 0 or raw.find(oid, found + 1) >= 0 or at < 0
                    or raw[at:found] != head):
                return False
            if at > 0 and raw[at - 1] in b"01234567" and not _after_entry(raw, at, odb):
                return False
            if value is None:
                cuts.append((at, found + len(oid), b""))
                continue
            new_id = pygit2.Oid(hex=value[0])
            if value[1] not in _SPLICE_MODES or new_id not in odb:
                return False  # as libgit2's strict object creation refuses it
            cuts.append((at, found + len(oid), b"%o %b\0%b" % (value[1], key, new_id.raw)))
        if not cuts:
            return str(tree.id)
        cuts.sort()
        parts: list[bytes] = []
        pos = 0
        for start, end, replacement in cuts:
            parts += (raw[pos:start], replacement)
            pos = end
        parts.append(raw[pos:])
        data = b"".join(parts)
        return self._write_tree(data) if data else None

    def _write_tree(self, data: bytes) -> str:
        """Store a tree object's bytes (as git_odb_write: an existing object is only freshened)."""
        import hashlib  # noqa: PLC0415 - OpenSSL's SHA-1, loaded only when a tree is written

        digest = hashlib.sha1(b"tree %d\0" % len(data), usedforsecurity=False)
        digest.update(data)
        oid = pygit2.Oid(raw=digest.digest())
        odb = self._r.odb
        if oid in odb:
            # git and libgit2 touch an existing object they "write", so that a concurrent gc
            # counts it as new; a loose one is touched here (a packed one is not).
            hexid = str(oid)
            with contextlib.suppress(OSError):
                os.utime(os.path.join(self._objects_dir(), hexid[:2], hexid[2:]))
            return hexid
        written = odb.write(pygit2.GIT_OBJECT_TREE, data)
        if written != oid:
            raise RepositoryError(f"the object database stored tree {written}, expected {oid}.")
        return str(oid)

    def _objects_dir(self) -> str:
        """The object directory (a linked worktree's git dir names the common one)."""
        git_dir = self._r.path
        try:
            with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
                git_dir = os.path.join(git_dir, fh.read().strip())
        except OSError:
            pass
        return os.environ.get("GIT_OBJECT_DIRECTORY") or os.path.join(git_dir, "objects")

    # -- in-flight radar (issue 4) -----------------------------------------------------------

    def write_commit(self, tree: str, parents: list[str], message: str, when: int) -> str:
        """An unreferenced commit object for a simulated merge: no ref moves, never signed,
        never published (git gc prunes it). Dated when, so the same inputs give the same id."""
        sig = pygit2.Signature("git-batch", "git-batch@localhost", when, 0)
        oid = self._r.create_commit(None, sig, sig, message, pygit2.Oid(hex=tree),
                                    [pygit2.Oid(hex=p) for p in parents])
        return str(oid)

    def is_dir(self, commit: str, path: str) -> bool:
        """Whether path names a directory (a tree) in commit."""
        tree = self._r[commit].peel(pygit2.Tree)
        try:
            obj = tree[path]
        except KeyError:
            return False
        return bool(obj.type == pygit2.GIT_OBJECT_TREE)

    def read_commit(self, commit: str) -> tuple[list[str], int, str]:
        """(parent ids, author time, message) of commit; the message decoded as git log -z
        output is elsewhere (UTF-8, undecodable bytes kept as surrogates)."""
        c = self._r[commit]
        message = c.raw_message.decode("utf-8", "surrogateescape")
        return [str(p) for p in c.parent_ids], int(c.author.time), message

    def commit_time(self, commit: str) -> int:
        """Committer time of commit, seconds since the epoch."""
        return int(self._r[commit].commit_time)
