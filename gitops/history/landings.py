"""Pure: which base commits landed which batch files, file by file, by their content.

Pipelines often squash-merge a batch's pull request under a subject of their own: the batch's
commits stay on the pull request's ref, and the base gets one new commit carrying the same files.
Such a commit is a member of the batch for the files whose version (same path, same blob) one
of the batch's offers carries: an offer is what one in-flight ref holding the batch's commits
has of the files they touch, each either as the ref's head has it (fix-ups pushed after the
batch commit) or as a batch commit wrote it. Its other files landed alongside and are never the
batch's.

The rules, for base commits taken oldest first:
- a commit naming a batch itself (trailer, legacy line, id file, `git batch land`) owns its
  managed files for that batch; nothing else is decided for it;
- otherwise each offer whose files it carries (and that is not older than the commit) scores
  the share of its files the commit brings; a commit whose subject names pull request N weighs
  only the offers of N's ref;
- a file goes to the batch whose best offer scores highest; two batches scoring the same make
  the file ambiguous (never attributed silently to both);
- a batch's file lands once: once a base commit brought one of the batch's versions of a path,
  a later commit changing that path is a later edit, not a landing (a stacked pull request's
  human fix of a batch file, a regenerated file re-added after a deletion).
A file deleted by an offer counts as carried only when the commit deletes it too and carries
at least one of the offer's other files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from gitops.history.report import SOURCE_CONTENT, SOURCE_PULL


class Offer(NamedTuple):
    """One way a batch's files may reach the base: what one ref carries of them."""

    batch_id: str
    via: str  # the ref (refs/pull/12/head) carrying the batch's commits
    since: int  # committer time of the batch's earliest commit there: no landing is older
    # path -> the versions that count as the batch's: blob ids, None for "deleted"
    files: Mapping[str, frozenset[str | None]]
    pull: int | None = None  # the pull request number of via, when it is a pull request ref


class Candidate(NamedTuple):
    """A base commit as attribution sees it."""

    seq: int
    time: int  # committer time
    changes: Mapping[str, str | None]  # managed path -> new blob id, None when deleted
    explicit: tuple[str, ...] = ()  # batches the commit names itself
    pull: int | None = None  # N of a `(#N)` subject


class Claim(NamedTuple):
    batch_id: str
    seq: int
    source: str  # content, pull-request, or the explicit source's own name
    detail: str  # the offer that matched best: its ref or commit, or "#N"
    paths: tuple[str, ...]


class Ambiguity(NamedTuple):
    seq: int
    path: str
    batch_ids: tuple[str, ...]  # every batch whose offers score the same for this file


class Attribution(NamedTuple):
    claims: tuple[Claim, ...]
    ambiguous: tuple[Ambiguity, ...]


def _matched(offer: Offer, changes: Mapping[str, str | None]) -> set[str]:
    """The offer's files the commit brings: same blob; deletions only beside another match."""
    same = {p for p, blobs in offer.files.items()
            if p in changes and changes[p] is not None and changes[p] in blobs}
    if not same:
        return same
    return same | {p for p, blobs in offer.files.items()
                   if None in blobs and p in changes and changes[p] is None}


def attribute(candidates: Iterable[Candidate], offers: Iterable[Offer],
              landed: Iterable[tuple[str, str]] = ()) -> Attribution:
    """Every claim and ambiguity of candidates (any order) under the module's rules.

    landed: (batch id, path) pairs already landed before the first candidate (an incremental
    update passes what the index holds)."""
    by_path: dict[str, list[Offer]] = {}
    for offer in offers:
        for path in offer.files:
            by_path.setdefault(path, []).append(offer)
    done = set(landed)
    claims: list[Claim] = []
    ambiguous: list[Ambiguity] = []
    for cand in sorted(candidates, key=lambda c: c.seq):
        if cand.explicit:
            for batch_id in cand.explicit:
                done.update((batch_id, p) for p in cand.changes)
            continue
        # offers carrying any of the commit's paths, each once (offers hold dicts: by identity)
        relevant = list({id(o): o for p in cand.changes for o in by_path.get(p, ())
                         if o.since <= cand.time}.values())
        if cand.pull is not None and any(o.pull == cand.pull for o in relevant):
            relevant = [o for o in relevant if o.pull == cand.pull]
            source = SOURCE_PULL
        else:
            source = SOURCE_CONTENT
        best: dict[str, dict[str, tuple[float, Offer]]] = {}  # path -> batch -> best score
        for offer in relevant:
            matched = {p for p in _matched(offer, cand.changes)
                       if (offer.batch_id, p) not in done}
            if not matched:
                continue
            score = len(matched) / len(offer.files)
            for path in matched:
                known = best.setdefault(path, {}).get(offer.batch_id)
                if known is None or (score, offer.via) > (known[0], known[1].via):
                    best[path][offer.batch_id] = (score, offer)
        won: dict[str, tuple[str, list[str]]] = {}  # batch -> (detail, paths)
        for path in sorted(best):
            scores = best[path]
            top = max(score for score, _o in scores.values())
            leaders = sorted(b for b, (score, _o) in scores.items() if score == top)
            if len(leaders) > 1:
                ambiguous.append(Ambiguity(cand.seq, path, tuple(leaders)))
                continue
            batch_id = leaders[0]
            offer = scores[batch_id][1]
            detail = f"#{offer.pull}" if source == SOURCE_PULL else offer.via
            won.setdefault(batch_id, (detail, []))[1].append(path)
        for batch_id, (detail, paths) in sorted(won.items()):
            claims.append(Claim(batch_id, cand.seq, source, detail, tuple(paths)))
            done.update((batch_id, p) for p in paths)
    return Attribution(tuple(claims), tuple(ambiguous))


def unlanded(offers: Iterable[Offer], landed: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """batch id -> the paths its offers carry that no base commit brought (partial landings)."""
    done = set(landed)
    out: dict[str, set[str]] = {}
    for offer in offers:
        for path in offer.files:
            if (offer.batch_id, path) not in done:
                out.setdefault(offer.batch_id, set()).add(path)
    return out
