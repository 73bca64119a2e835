"""How many commits a repository's commit-graph file holds, from its header.

Only a size hint: the cold history walk (scan.cold_report) splits the base branch's history at
a commit about halfway down and walks both halves at once, one git process per core. Finding
that commit (`git rev-list --skip=N`) is cheap only when git can read parents from a
commit-graph (0.13 s over 100k commits, against 0.7 s when it must parse every commit), and N
needs the history's size: both come from here. A wrong or missing answer costs time, never
correctness: the two walks cover every commit whatever the split point.

Format: gitformat-commit-graph(5). An 8-byte header ("CGPH", version 1, hash version, number of
chunks, number of base graphs), a table of (4-byte chunk id, 8-byte offset) entries, and the
OID Fanout chunk ("OIDF"): 256 big-endian 4-byte counts whose last entry is the number of
commits in that file. A split graph lists its files, oldest first, in
info/commit-graphs/commit-graph-chain.
"""

from __future__ import annotations

import os
import struct

_HEADER = b"CGPH"
_FANOUT = b"OIDF"


def graph_file_commits(path: str) -> int | None:
    """The number of commits in one commit-graph file, or None when it is missing or not one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8 or head[:4] != _HEADER or head[4] != 1:
                return None
            chunks = head[6]
            table = fh.read(12 * chunks)
            if len(table) != 12 * chunks:
                return None
            for i in range(chunks):
                chunk_id, offset = struct.unpack_from(">4sQ", table, 12 * i)
                if chunk_id == _FANOUT:
                    fh.seek(offset + 255 * 4)
                    last = fh.read(4)
                    return int.from_bytes(last, "big") if len(last) == 4 else None
    except OSError:
        return None
    return None


def _alternates(objects: str) -> list[str]:
    try:
        with open(os.path.join(objects, "info", "alternates"), encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [os.path.join(objects, line) for line in lines if line and not line.startswith("#")]


def commit_count(objects: str) -> int | None:
    """Commits in the commit-graph git would use for this object directory (its own, else the
    first of its alternates that has one, as git looks them up), or None when there is none."""
    for directory in (objects, *_alternates(objects)):
        info = os.path.join(directory, "info")
        single = graph_file_commits(os.path.join(info, "commit-graph"))
        if single is not None:
            return single
        try:
            with open(os.path.join(info, "commit-graphs", "commit-graph-chain"),
                      encoding="ascii") as fh:
                chain = fh.read().split()
        except (OSError, UnicodeDecodeError):
            continue
        counts = [graph_file_commits(os.path.join(info, "commit-graphs", f"graph-{h}.graph"))
                  for h in chain]
        if chain and None not in counts:
            return sum(c for c in counts if c is not None)
    return None
