"""Pure-filesystem repository discovery and ref reading for the warm lookup path.

The warm `show`/`list` path must answer in a few tens of milliseconds, so it may not start git
or load pygit2. It reads refs the way git stores them (loose files under the common dir, then
`packed-refs`) only to decide whether the index is still fresh. Whenever anything looks unusual
(GIT_DIR set, a ref it cannot read, a revision expression) it returns None and the caller takes the
ordinary path through git, which is always correct.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_HEX40 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class GitDirs:
    git_dir: Path
    common_dir: Path
    work_tree: Path | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _looks_like_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _ceilings(environ: dict[str, str]) -> set[Path]:
    raw = environ.get("GIT_CEILING_DIRECTORIES", "")
    return {Path(p) for p in raw.split(os.pathsep) if p}


def discover(start: Path, environ: dict[str, str]) -> GitDirs | None:
    """The repository containing start, found as git would in the common cases, or None."""
    if any(k in environ for k in ("GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE")):
        return None
    ceilings = _ceilings(environ)
    current = start.resolve()
    while True:
        dot = current / ".git"
        if dot.is_dir() and _looks_like_git_dir(dot):
            return GitDirs(dot, _common_dir(dot), current)
        if dot.is_file():
            text = _read(dot)
            if not text or not text.startswith("gitdir: "):
                return None
            git_dir = (current / text[8:].strip()).resolve()
            if not _looks_like_git_dir(git_dir) and not (git_dir / "commondir").is_file():
                return None
            return GitDirs(git_dir, _common_dir(git_dir), current)
        if _looks_like_git_dir(current):
            return GitDirs(current, _common_dir(current), None)
        if current.parent == current or current.parent in ceilings:
            return None
        current = current.parent


def _common_dir(git_dir: Path) -> Path:
    text = _read(git_dir / "commondir")
    if text is None:
        return git_dir
    return (git_dir / text.strip()).resolve()


class RefReader:
    """Reads refs of one repository from loose files and packed-refs; None means 'ask git'."""

    def __init__(self, dirs: GitDirs) -> None:
        self.dirs = dirs
        self._packed: dict[str, str] | None = None

    def packed(self) -> dict[str, str]:
        if self._packed is None:
            self._packed = {}
            text = _read(self.dirs.common_dir / "packed-refs") or ""
            for line in text.splitlines():
                if not line or line[0] in "#^":
                    continue
                oid, _, name = line.partition(" ")
                if _HEX40.match(oid):
                    self._packed[name] = oid
        return self._packed

    def _loose(self, name: str) -> str | None:
        base = self.dirs.git_dir if "/" not in name else self.dirs.common_dir
        return _read(base / name)

    def read(self, name: str, depth: int = 0) -> tuple[str, str] | None:
        """(full ref name after following symrefs, oid) for an existing ref, else None."""
        if depth > 5:
            return None
        text = self._loose(name)
        if text is not None:
            text = text.strip()
            if text.startswith("ref: "):
                return self.read(text[5:].strip(), depth + 1)
            return (name, text) if _HEX40.match(text) else None
        oid = self.packed().get(name)
        return (name, oid) if oid else None

    def dwim(self, short: str) -> tuple[str, str] | None:
        """Resolve a branch-like name in git's rev-parse order (gitrevisions(7))."""
        if not short or short.startswith("-") or any(c in short for c in "~^:@{}[]?*\\ \t"):
            return None
        if short == "HEAD":
            return self.read("HEAD")
        candidates = [f"refs/{short}", f"refs/tags/{short}", f"refs/heads/{short}",
                      f"refs/remotes/{short}", f"refs/remotes/{short}/HEAD"]
        if short.startswith("refs/"):
            candidates.insert(0, short)
        for candidate in candidates:
            found = self.read(candidate)
            if found:
                return found
        return None

    def list(self, prefix: str) -> dict[str, str]:
        """Every ref under prefix ('refs/pull/') with its oid, loose refs overriding packed."""
        refs = {n: o for n, o in self.packed().items() if n.startswith(prefix)}
        # os.scandir on strings: a registry mirror can hold thousands of loose pull refs, and
        # pathlib costs several times more per entry on this path.
        common = str(self.dirs.common_dir)
        stack = [os.path.join(common, prefix)]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                try:
                    with open(entry.path, encoding="utf-8") as fh:
                        text = fh.read().strip()
                except (OSError, UnicodeDecodeError):
                    continue
                if _HEX40.match(text):
                    refs[entry.path[len(common) + 1:].replace(os.sep, "/")] = text
        return refs

    def is_shallow(self) -> bool:
        return (self.dirs.common_dir / "shallow").is_file()
