"""history.landings: content attribution of base commits to batches, rule by rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.history.landings import (
    Ambiguity,
    Candidate,
    Claim,
    Offer,
    attribute,
    unlanded,
)


def offer(batch: str, via: str, files: dict[str, str | tuple[str | None, ...] | None],
          since: int = 0, pull: int | None = None) -> Offer:
    """files: path -> its version (or versions) that count as the batch's."""
    return Offer(batch, via, since,
                 {p: frozenset(v if isinstance(v, tuple) else (v,)) for p, v in files.items()},
                 pull)


def test_a_squash_with_its_own_subject_lands_the_batch_files_only() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a1", "r/b.toml": "b1"}, pull=7)
    squash = Candidate(10, 100, {"r/a.toml": "a1", "r/b.toml": "b1", "r/human.toml": "h"})
    got = attribute([squash], [pr])
    assert got.claims == (Claim("B", 10, "content", "refs/pull/7/head", ("r/a.toml", "r/b.toml")),)
    assert got.ambiguous == ()


def test_fix_ups_after_the_batch_commit_match_through_the_head() -> None:
    """The ref offers both the batch commit's version (a1) and the head's after a fix-up (a2)."""
    head = offer("B", "refs/pull/7/head", {"r/a.toml": ("a1", "a2"), "r/b.toml": "b1"}, pull=7)
    for version in ("a1", "a2"):
        squash = Candidate(10, 100, {"r/a.toml": version, "r/b.toml": "b1"})
        (claim,) = attribute([squash], [head]).claims
        assert claim.paths == ("r/a.toml", "r/b.toml") and claim.detail == "refs/pull/7/head"


def test_a_pull_request_subject_weighs_its_own_ref_only() -> None:
    mine = offer("B", "refs/pull/7/head", {"r/x.toml": "x"}, pull=7)
    other = offer("C", "refs/pull/9/head", {"r/x.toml": "x"}, pull=9)
    squash = Candidate(10, 100, {"r/x.toml": "x"}, pull=7)
    assert attribute([squash], [mine, other]).claims == (
        Claim("B", 10, "pull-request", "#7", ("r/x.toml",)),)


def test_the_offer_whose_whole_change_landed_beats_an_abandoned_one() -> None:
    abandoned = offer("X", "refs/pull/3/head", {"r/xz.toml": "z", "r/a.toml": "a"})
    merged = offer("Y", "refs/pull/8/head", {"r/xz.toml": "z", "r/c.toml": "c"})
    squash = Candidate(10, 100, {"r/xz.toml": "z", "r/c.toml": "c"})
    got = attribute([squash], [abandoned, merged])
    assert got.claims == (Claim("Y", 10, "content", "refs/pull/8/head", ("r/c.toml", "r/xz.toml")),)
    assert got.ambiguous == ()


def test_equal_offers_of_two_batches_are_ambiguous_never_both() -> None:
    one = offer("X", "refs/pull/3/head", {"r/xz.toml": "z"})
    two = offer("Y", "refs/pull/8/head", {"r/xz.toml": "z"})
    got = attribute([Candidate(10, 100, {"r/xz.toml": "z"})], [one, two])
    assert got.claims == ()
    assert got.ambiguous == (Ambiguity(10, "r/xz.toml", ("X", "Y")),)


def test_a_file_lands_once_so_a_stacked_fix_is_a_later_edit() -> None:
    batch_pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a1", "r/b.toml": "b1"}, pull=7)
    stacked = offer("B", "refs/pull/8/head", {"r/a.toml": "a-human", "r/b.toml": "b1"}, pull=8)
    first = Candidate(10, 100, {"r/a.toml": "a1", "r/b.toml": "b1"})
    human = Candidate(20, 200, {"r/a.toml": "a-human"}, pull=8)
    got = attribute([human, first], [batch_pr, stacked])
    assert [c.seq for c in got.claims] == [10]


def test_a_split_landing_claims_each_part_where_it_landed() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a", "r/b.toml": "b", "r/c.toml": "c"})
    got = attribute([Candidate(10, 100, {"r/a.toml": "a"}),
                     Candidate(11, 101, {"r/b.toml": "b", "r/c.toml": "c"})], [pr])
    assert [(c.seq, c.paths) for c in got.claims] == [(10, ("r/a.toml",)),
                                                      (11, ("r/b.toml", "r/c.toml"))]
    assert unlanded([pr], [("B", p) for c in got.claims for p in c.paths]) == {}


def test_a_partial_landing_leaves_the_rest_unlanded() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a", "r/b.toml": "b"})
    got = attribute([Candidate(10, 100, {"r/a.toml": "a"})], [pr])
    assert unlanded([pr], [("B", p) for c in got.claims for p in c.paths]) == {"B": {"r/b.toml"}}


def test_explicit_members_own_their_files_and_block_later_landings() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a"})
    merged = Candidate(5, 50, {"r/a.toml": "a"}, explicit=("B",))
    later = Candidate(9, 90, {"r/a.toml": "a"})
    assert attribute([merged, later], [pr]).claims == ()


def test_an_offer_never_lands_before_it_existed() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a"}, since=500)
    assert attribute([Candidate(10, 100, {"r/a.toml": "a"})], [pr]).claims == ()


def test_a_deletion_counts_only_beside_a_matched_file() -> None:
    pr = offer("B", "refs/pull/7/head", {"r/a.toml": "a", "r/old.toml": None})
    only_delete = Candidate(10, 100, {"r/old.toml": None})
    assert attribute([only_delete], [pr]).claims == ()
    both = Candidate(11, 101, {"r/a.toml": "a", "r/old.toml": None})
    assert attribute([both], [pr]).claims[0].paths == ("r/a.toml", "r/old.toml")


BLOBS = st.sampled_from(["b1", "b2", "b3", None])
PATHS = st.sampled_from([f"r/{c}.toml" for c in "abcdef"])
FILES = st.dictionaries(PATHS, BLOBS, min_size=1, max_size=4)
VERSIONS = st.dictionaries(PATHS, st.frozensets(BLOBS, min_size=1, max_size=2), min_size=1,
                           max_size=4)
OFFERS = st.lists(st.builds(Offer, st.sampled_from(["X", "Y", "Z"]),
                            st.sampled_from(["refs/pull/1/head", "refs/pull/2/head"]),
                            st.integers(0, 5), VERSIONS, st.sampled_from([None, 1, 2])),
                  max_size=6)
CANDS = st.lists(st.builds(Candidate, st.integers(1, 50), st.integers(0, 5), FILES,
                           st.sampled_from([(), ("X",)]), st.sampled_from([None, 1, 2])),
                 max_size=6, unique_by=lambda c: c.seq)


@settings(max_examples=400, deadline=None)
@given(OFFERS, CANDS)
def test_never_attributes_a_file_no_offer_of_that_batch_carries(offers, cands) -> None:
    """Every claimed file's version in the commit is one an offer of that batch carries (same
    path, same blob; a deletion only when the offer deletes it), no file goes to two batches,
    and no (batch, path) lands twice."""
    got = attribute(cands, offers)
    by_seq = {c.seq: c for c in cands}
    owners: dict[tuple[int, str], str] = {}
    landed: set[tuple[str, str]] = set()
    for claim in got.claims:
        cand = by_seq[claim.seq]
        assert not cand.explicit
        for path in claim.paths:
            assert any(o.batch_id == claim.batch_id and path in o.files
                       and cand.changes[path] in o.files[path] and o.since <= cand.time
                       for o in offers)
            assert owners.setdefault((claim.seq, path), claim.batch_id) == claim.batch_id
            assert (claim.batch_id, path) not in landed
            landed.add((claim.batch_id, path))
    for amb in got.ambiguous:
        assert (amb.seq, amb.path) not in owners and len(amb.batch_ids) >= 2
