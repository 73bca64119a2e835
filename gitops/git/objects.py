"""The only module that imports pygit2: open a repository, read trees and blobs, build trees.

It never moves refs and never signs; commits that must honour the user's signing setup are made
by `git commit-tree` (git.plumbing). Anything pygit2's stubs leave as Any stays inside here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pygit2

from gitops.errors import MissingObject, RepositoryError
from gitops.git.process import StrPath

BLOB_MODE = pygit2.GIT_FILEMODE_BLOB
EXEC_MODE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
TREE_MODE = pygit2.GIT_FILEMODE_TREE
LINK_MODE = pygit2.GIT_FILEMODE_LINK

# libgit2 keeps parsed trees of at most 4 KiB in its object cache. A registry's recipe directory
# holds thousands of entries (100+ KiB), so every `tree[path]` would re-read and re-parse it.
# Cache trees up to 4 MiB (the cache's total is still bounded by libgit2's 256 MiB default).
pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, 4 << 20)

# path -> (blob id, file mode), or None to delete the path
TreeEdit = Mapping[str, "tuple[str, int] | None"]


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

    def _get(self, oid: str) -> Any:
        try:
            return self._r[oid]
        except KeyError:
            raise MissingObject(oid) from None

    def _tree(self, commit: str) -> Any:
        """The root tree of commit; MissingObject when the commit or its tree is absent."""
        c = self._get(commit)
        try:
            return c.peel(pygit2.Tree)
        except (KeyError, pygit2.GitError):
            raise MissingObject(str(c.tree_id)) from None

    def entry(self, commit: str, path: str) -> tuple[str, int] | None:
        """(blob id, mode) of path in commit's tree, or None when absent or not a file."""
        tree = self._tree(commit)
        try:
            obj = tree[path]
        except KeyError:
            return None
        if obj.type != pygit2.GIT_OBJECT_BLOB:
            return None
        return str(obj.id), int(obj.filemode)

    def entries(self, commit: str, paths: Iterable[str]) -> dict[str, tuple[str, int] | None]:
        tree = self._tree(commit)
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
        parents = self._get(commit).parent_ids
        return str(parents[0]) if parents else None

    def tree_of(self, commit: str) -> str:
        return str(self._tree(commit).id)

    def blob(self, oid: str) -> bytes:
        data: bytes = self._get(oid).data
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

    # -- simulated merges (the in-flight radar) ----------------------------------------------

    def write_commit(self, tree: str, parents: list[str], message: str, when: int) -> str:
        """An unreferenced commit object for a simulated merge: no ref moves, never signed,
        never published (git gc prunes it). Dated when, so the same inputs give the same id."""
        sig = pygit2.Signature("git-batch", "git-batch@localhost", when, 0)
        oid = self._r.create_commit(None, sig, sig, message, pygit2.Oid(hex=tree),
                                    [pygit2.Oid(hex=p) for p in parents])
        return str(oid)

    def is_dir(self, commit: str, path: str) -> bool:
        """Whether path names a directory (a tree) in commit."""
        tree = self._tree(commit)
        try:
            obj = tree[path]
        except KeyError:
            return False
        return bool(obj.type == pygit2.GIT_OBJECT_TREE)

    def read_commit(self, commit: str) -> tuple[list[str], int, str]:
        """(parent ids, author time, message) of commit; the message decoded as git log -z
        output is elsewhere (UTF-8, undecodable bytes kept as surrogates)."""
        c = self._get(commit)
        message = c.raw_message.decode("utf-8", "surrogateescape")
        return [str(p) for p in c.parent_ids], int(c.author.time), message

    def commit_time(self, commit: str) -> int:
        """Committer time of commit, seconds since the epoch."""
        return int(self._get(commit).commit_time)
