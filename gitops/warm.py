"""Replay cache for repeated `show ID [--json]` and `list [--json]`: the warmest path.

A rendered answer is stored in a file with everything it depended on: the settings (bytes of
the configuration file and every GIT_BATCH_* variable, part of the file name), the command, the
base ref and its tip, and a digest of the pull request refs. A later identical request whose
inputs are all unchanged prints the stored bytes; anything else falls through to `fastpath`
(index) and then to the full CLI. Only os and sys are imported (sqlite3 and hashlib cost 5 ms
each at start-up here), so the whole process stays near the interpreter's own start-up time
(issue 2: warm lookup about 25 ms).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from gitops import __version__
from gitops.refs import GitDirs, RefReader, discover

try:  # blake2 without loading OpenSSL: hashlib imports _hashlib first (3.6 ms measured)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

CONFIG_FILENAME = ".git-batch.toml"  # the same name as config.CONFIG_FILENAME (checked by a test)
MAX_ENTRIES = 512  # a cache, not a store: past this many answers the directory is emptied


def cache_dir(dirs: GitDirs) -> str:
    return os.path.join(dirs.common_dir, "git-batch", "replay")


def settings_key(dirs: GitDirs, environ: Mapping[str, str], argv: list[str]) -> str | None:
    """Digest of every input besides refs that the answer depends on; None if unreadable."""
    explicit = environ.get("GIT_BATCH_CONFIG")
    path = explicit or (os.path.join(dirs.work_tree, CONFIG_FILENAME) if dirs.work_tree else "")
    h = blake2b(f"{__version__}\0{argv!r}\0".encode(), digest_size=20)
    if path and (explicit or os.path.exists(path)):
        try:
            with open(path, "rb") as fh:
                h.update(fh.read())
        except OSError:
            return None
    else:
        h.update(b"\0no-config\0")
    for k in sorted(environ):
        if k.startswith("GIT_BATCH_"):
            h.update(f"{k}={environ[k]}\0".encode())
    return h.hexdigest()


def pulls_digest(listing: dict[str, str]) -> str:
    """Digest of every ref the pull request pattern lists (unfiltered: any change invalidates)."""
    return blake2b(repr(sorted(listing.items())).encode(), digest_size=20).hexdigest()


def _plain(argv: list[str]) -> bool:
    args = argv[:-1] if argv[-1:] == ["--json"] else argv
    if args[:1] == ["show"]:
        return len(args) == 2 and not args[1].startswith("-")
    return args == ["list"]


def run(argv: list[str]) -> tuple[int | None, tuple[str, str] | None]:
    """(exit code when a stored answer was replayed, else None; and when the answer was stored
    at an older tip of the same base, (work tree, new tip): the history index needs the commits
    since, and the caller may start reading them (gitcli.start_log) before anything else)."""
    if not _plain(argv):
        return None, None
    dirs = discover(os.getcwd(), os.environ)
    if dirs is None or dirs.work_tree is None:
        return None, None
    output, moved = _lookup(dirs, argv, os.environ)
    if output is None:
        return None, None if moved is None else (dirs.work_tree, moved)
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0, None


def replayed(dirs: GitDirs, argv: list[str], environ: Mapping[str, str]) -> str | None:
    """The stored answer to argv when every input it depended on is unchanged, else None."""
    return _lookup(dirs, argv, environ)[0]


def _lookup(dirs: GitDirs, argv: list[str], environ: Mapping[str, str]
            ) -> tuple[str | None, str | None]:
    """(replayed(), the base's new tip when only that tip moved since the answer was stored)."""
    key = settings_key(dirs, environ, argv)
    if key is None:
        return None, None
    try:
        with open(os.path.join(cache_dir(dirs), key), encoding="utf-8") as fh:
            stored = fh.read()
    except (OSError, UnicodeDecodeError):
        return None, None
    head = stored.split("\n", 7)
    if len(head) != 8:
        return None, None
    base_spec, base_ref, tip, pull_spec, pulls, ledger_refs, ledger, output = head
    reader = RefReader(dirs)
    if reader.is_shallow():
        return None, None
    base = reader.base(base_spec)
    if base != (base_ref, tip):
        return None, base[1] if base is not None and base[0] == base_ref else None
    if pulls_digest(reader.list(pull_spec)) != pulls:
        return None, None
    if ledger_value(reader, ledger_refs.split()) != ledger:
        return None, None
    return output, None


def ledger_value(reader: RefReader, refs: list[str]) -> str:
    """The ops branch refs' values (landings are a membership source)."""
    return " ".join((reader.read(r) or ("", "-"))[1] for r in refs)


class RefState:
    """The refs an answer depends on, read from the ref files before the index is checked."""

    __slots__ = ("base", "base_spec", "ledger", "ledger_refs", "listing", "pull_spec")

    def __init__(self, reader: RefReader, base_spec: str, base: tuple[str, str],
                 pull_spec: str, ledger_refs: list[str]) -> None:
        self.base_spec, self.base = base_spec, base
        self.pull_spec, self.listing = pull_spec, reader.list(pull_spec)
        self.ledger_refs, self.ledger = ledger_refs, ledger_value(reader, ledger_refs)


def ref_state(reader: RefReader, base_spec: str, pull_spec: str, ledger_refs: list[str]
              ) -> RefState | None:
    """RefState, or None when the files do not settle it (shallow clone, no such base)."""
    base = None if reader.is_shallow() else reader.base(base_spec)
    return None if base is None else RefState(reader, base_spec, base, pull_spec, ledger_refs)


def store(dirs: GitDirs, argv: list[str], state: RefState, output: str) -> None:
    """Remember an answer computed from a fresh index, with the ref state it was computed
    from; never fails the command."""
    key = settings_key(dirs, os.environ, argv)
    fields = (state.base_spec, state.base[0], state.base[1], state.pull_spec,
              pulls_digest(state.listing), " ".join(state.ledger_refs), state.ledger)
    if key is None or not _plain(argv) or any("\n" in f for f in fields):
        return
    folder = cache_dir(dirs)
    tmp = os.path.join(folder, f".{key}.{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        names = os.listdir(folder)
        if len(names) >= MAX_ENTRIES:
            for name in names:
                os.unlink(os.path.join(folder, name))
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join((*fields, output)))
        os.replace(tmp, os.path.join(folder, key))
    except OSError:
        return  # a cache: a read-only or full disk only costs the next run some time
