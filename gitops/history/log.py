"""Pure: `git log` output -> commit records; commit messages -> what they say about batches.

`parse_log` reads the LOG_FORMAT records (with `--raw` or `--name-status` changes) that the
cold scan, the index build and the hooks ask git for; the Classifier reads batch ids (trailer or
legacy line), revert and reapply trailers, ecosystems and `(#N)` pull request subjects, with
`git.trailers`, which is differential-tested against `git interpret-trailers`.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from typing import NamedTuple

from gitops.config import Config
from gitops.git import trailers
from gitops.history.report import (
    PULL_SUBJECT,
    REAPPLIES_BATCH,
    REVERTS_BATCH,
    SOURCE_LEGACY,
    SOURCE_TRAILER,
    Change,
    CommitInfo,
)

CHANGE_STATUSES = frozenset({b"A", b"M", b"D", b"T", b"U", b"X"})


class Record(NamedTuple):
    info: CommitInfo
    message: str
    changes: tuple[Change, ...]
    ctime: int  # committer time: orders commits found by separate walks


class Classified(NamedTuple):
    """What one commit message says about batches."""

    members: tuple[tuple[str, str, str], ...]  # (batch_id, source, detail)
    events: tuple[tuple[str, str], ...]  # (kind, batch_id)
    ecosystems: tuple[str, ...]
    pull: int | None


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_log(data: bytes) -> Iterator[Record]:
    """Records from `git log LOG_FORMAT [LOG_DIFF]` output."""
    records, _used = _parse_tokens(data.split(b"\0"), final=True)
    return iter(records)


def parse_log_stream(chunks: Iterable[bytes]) -> Generator[Record, None, None]:
    """The records of parse_log(b"".join(chunks)), each as soon as the bytes after it arrive.

    Parsing is by position, as in parse_log, never by searching for a separator, so no message
    or path can make a record end early; a record is complete once the token after its change
    list (the next record's start) is there.
    """
    tokens: list[bytes] = []
    partial = b""
    for chunk in chunks:
        parts = (partial + chunk).split(b"\0")
        partial = parts.pop()  # after the last NUL: not a whole token yet
        tokens += parts
        if not any(t[:1] == b"\x1e" for t in parts):
            continue  # no record started: none ended either (a long change list goes on)
        records, used = _parse_tokens(tokens, final=False)
        del tokens[:used]
        yield from records
    tokens.append(partial)
    records, _used = _parse_tokens(tokens, final=True)
    yield from records


def _parse_tokens(tokens: list[bytes], *, final: bool) -> tuple[list[Record], int]:
    """Records from NUL-separated tokens, and how many tokens they used. Unless final, a record
    whose change list may go on in tokens not read yet is left for the next call."""
    out: list[Record] = []
    i = used = 0
    n = len(tokens)
    while i < n:
        head = tokens[i]
        if not head.startswith(b"\x1e"):
            i += 1
            used = i
            continue
        if i + 7 > n:
            break
        j = i + 7
        # the empty token closing the format, then (change, path) pairs until the next record:
        # ":<old mode> <new mode> <old id> <new id> <status>" with --raw, "<status>" with
        # --name-status (both parsed: callers may pass either)
        if j < n and tokens[j] == b"":
            j += 1
        changes: list[Change] = []
        ended = False
        while j < n:
            tok = tokens[j]
            if tok.startswith(b"\x1e"):
                ended = True
                break
            if j + 1 == n:
                break  # a change whose path is not there (yet), or the closing empty token
            tok = tok.lstrip(b"\n")
            if tok.startswith(b":"):
                status = tok[tok.rfind(b" ") + 1:][:1]  # the last field (a score may follow)
                changes.append(Change(decode(status), decode(tokens[j + 1]), tok))
            elif tok[:1] in CHANGE_STATUSES:
                changes.append(Change(decode(tok[:1]), decode(tokens[j + 1])))
            else:
                ended = True
                break
            j += 2
        if not (ended or final):
            break
        message = decode(tokens[i + 6])
        info = CommitInfo(decode(head[1:]), tuple(decode(tokens[i + 1]).split()),
                          decode(tokens[i + 2]), decode(tokens[i + 3]),
                          int(tokens[i + 4] or b"0"), message.split("\n", 1)[0].strip())
        out.append(Record(info, message, tuple(changes), int(tokens[i + 5] or b"0")))
        i = used = j
    return out, used


class Classifier:
    """Classifies commit messages for one configuration; cheap pre-filter before parsing."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.id_regex = cfg.id_regex
        keys = [cfg.batch.trailer_key, *cfg.batch.legacy_keys, REVERTS_BATCH, REAPPLIES_BATCH]
        self._needles = tuple(k.lower() for k in keys)
        line = cfg.batch.ecosystem_line
        # `ecosystem: NAME` anywhere in the message, as pipelines that wrote no trailer did
        self._ecosystem_line = (re.compile(rf"^[ \t]*{re.escape(line)}[ \t]*:[ \t]*(\S+)[ \t]*$",
                                           re.IGNORECASE | re.MULTILINE) if line else None)

    def classify(self, message: str, subject: str) -> Classified | None:
        pull_match = PULL_SUBJECT.search(subject)
        pull = int(pull_match.group(1)) if pull_match else None
        lowered = message.lower()
        if not any(needle in lowered for needle in self._needles):
            return Classified((), (), (), pull) if pull is not None else None
        refs = trailers.find_batch_refs(
            message,
            key=self.cfg.batch.trailer_key,
            legacy_keys=self.cfg.batch.legacy_keys,
            id_regex=self.id_regex,
        )
        members = tuple(
            (r.batch_id, SOURCE_TRAILER if r.form == "trailer" else SOURCE_LEGACY, r.key)
            for r in refs
        )
        parsed = trailers.parse(message)
        events: list[tuple[str, str]] = []
        for kind, key in (("revert", REVERTS_BATCH), ("reapply", REAPPLIES_BATCH)):
            for value in trailers.values(parsed, key):
                if self.id_regex.fullmatch(value):
                    events.append((kind, value))
        ecosystems = tuple(trailers.values(parsed, self.cfg.batch.ecosystem_trailer))
        if not ecosystems and self._ecosystem_line is not None:
            ecosystems = tuple(self._ecosystem_line.findall(message))
        if not members and not events and pull is None:
            return None
        return Classified(members, tuple(events), ecosystems if members else (), pull)


