"""Unit tests for gitops.git.trailers: git's trailer rules by example, plus hypothesis
properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gitops.git.trailers import (
    BatchRef,
    Trailer,
    add_trailer,
    block_bounds,
    find_batch_refs,
    find_invalid_batch_values,
    parse,
    values,
)

ID = "2026-03-03-001"
ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{3}$")
SCISSORS = "# ------------------------ >8 ------------------------"


def refs(message: str, legacy_keys: tuple[str, ...] = ("batch_id",)) -> tuple[BatchRef, ...]:
    return find_batch_refs(message, key="Batch-Id", legacy_keys=legacy_keys, id_regex=ID_RE)


# --- parse: which paragraph is the block --------------------------------------------------


def test_parse_reads_only_the_last_paragraph():
    message = "Subject\n\nA: 1\n\nB: 2\nC: 3\n"
    assert parse(message) == (Trailer("B", "2"), Trailer("C", "3"))


def test_parse_never_reads_the_title_paragraph():
    assert parse("A: 1\nB: 2\n") == ()
    assert parse("Subject\nA: 1\n") == ()


def test_parse_title_ends_at_a_whitespace_only_line():
    assert parse("Subject\n \t\nA: 1\n") == (Trailer("A", "1"),)


def test_parse_empty_and_trailing_blank_messages():
    assert parse("") == ()
    assert parse("\n\n") == ()
    assert parse("Subject\n\nA: 1\n\n\n") == (Trailer("A", "1"),)


def test_parse_message_without_final_newline():
    assert parse("Subject\n\nA: 1\nB: 2") == (Trailer("A", "1"), Trailer("B", "2"))


def test_parse_requires_all_trailers_without_a_git_generated_line():
    assert parse("Subject\n\nA: 1\nSome prose.\n") == ()


def test_parse_allows_25_percent_trailers_with_signed_off_by():
    base = "Subject\n\nSigned-off-by: A U Thor <a@example.com>\n"
    three = base + "one\ntwo\nthree\n"  # 1 trailer, 3 other lines: exactly 25%
    assert parse(three) == (Trailer("Signed-off-by", "A U Thor <a@example.com>"),)
    assert parse(three + "four\n") == ()


def test_parse_cherry_picked_line_counts_but_is_not_printed():
    message = "Subject\n\n(cherry picked from commit 0123abcd)\nK: v\nx\ny\nz\n"
    assert parse(message) == (Trailer("K", "v"),)
    assert parse(message.replace("(cherry", "(cherry-")) == ()


def test_parse_signed_off_by_prefix_needs_its_space():
    # "Signed-off-by:x" is a trailer, but not the git-generated prefix that allows 25%.
    assert parse("Subject\n\nSigned-off-by:x\nprose\n") == ()


# --- parse: lines inside the block ------------------------------------------------------


def test_parse_unfolds_continuation_lines():
    message = "Subject\n\nK: first\n  second\n\tthird\nL: v\n"
    assert parse(message) == (Trailer("K", "first second third"), Trailer("L", "v"))


def test_parse_continuation_without_a_trailer_above_is_prose():
    assert parse("Subject\n\n  indented\nK: v\n") == ()


def test_parse_separator_rules():
    message = "Subject\n\nKey :value\nTab\t:  v2 \nx-1:\nbatch_id: 1\nSome key: 2\n"
    assert parse(message) == ()  # the last two lines are prose for git
    message = "Subject\n\nKey :value\nTab\t:  v2 \nx-1:\n"
    assert parse(message) == (Trailer("Key", "value"), Trailer("Tab", "v2"), Trailer("x-1", ""))


def test_parse_line_starting_with_colon_is_prose():
    assert parse("Subject\n\n:x\n") == ()


def test_parse_only_git_whitespace_is_trimmed():
    assert parse("Subject\n\nK: v\r\n") == (Trailer("K", "v"),)
    assert parse("Subject\n\nK: v\x0b\n") == (Trailer("K", "v\x0b"),)


def test_parse_non_ascii_letters_are_not_token_characters():
    assert parse("Subject\n\nClé: v\n") == ()


def test_parse_skips_comment_lines_inside_the_block():
    message = "Subject\n\nA: 1\n# a comment\nB: 2\n\n# trailing comment\n"
    assert parse(message) == (Trailer("A", "1"), Trailer("B", "2"))


def test_parse_continuation_below_a_comment_counts_as_prose():
    assert parse("Subject\n\nA: 1\n# comment\n  more\n") == ()


# --- parse: where the message ends ------------------------------------------------------


def test_parse_divider_ends_the_message_only_when_asked():
    message = "Subject\n\nA: 1\n---\nB: 2\n"
    assert parse(message, divider=True) == (Trailer("A", "1"),)
    assert parse(message) == ()  # "---" is then a prose line of the last paragraph


def test_parse_divider_needs_whitespace_after_the_dashes():
    message = "Subject\n\nA: 1\n---x\nB: 2\n"
    assert parse(message, divider=True) == ()
    assert parse("Subject\n\nA: 1\n--- a/f\n", divider=True) == (Trailer("A", "1"),)


def test_parse_stops_at_the_scissors_line():
    message = f"Subject\n\nA: 1\n{SCISSORS}\nB: 2\n"
    assert parse(message) == parse(message, divider=True) == (Trailer("A", "1"),)
    assert parse(f"{SCISSORS}\nSubject\n\nA: 1\n") == ()


def test_parse_ignores_a_scissors_line_after_the_divider():
    # git 2.39 never returns on this message; we read it as if the scissors line were absent.
    message = f"Subject\n\nA: 1\n---\n{SCISSORS}\nB: 2\n"
    assert parse(message, divider=True) == (Trailer("A", "1"),)


def test_parse_ignores_an_old_conflicts_block():
    message = "Subject\n\nA: 1\nConflicts:\n\tfile.txt\n\tother.txt\n"
    assert parse(message) == (Trailer("A", "1"),)


# --- block_bounds and values ------------------------------------------------------------


def test_block_bounds_spans_the_block():
    message = "Subject\n\nA: 1\nB: 2\n\n# comment\n"
    start, end = block_bounds(message)
    assert message[start:end] == "A: 1\nB: 2\n"


def test_block_bounds_is_empty_at_the_end_of_the_message_without_a_block():
    message = "Subject\n\nBody.\n---\npatch\n"
    assert block_bounds(message, divider=True) == (15, 15)
    assert block_bounds("") == (0, 0)


def test_values_compares_keys_case_insensitively():
    found = (Trailer("Batch-Id", "a"), Trailer("batch-ID", "b"), Trailer("Batch", "c"))
    assert values(found, "BATCH-ID") == ("a", "b")


# --- find_batch_refs -----------------------------------------------------------------------


def test_find_batch_refs_trailer_form():
    assert refs(f"Subject\n\nBatch-Id: {ID}\n") == (BatchRef(ID, "trailer", "Batch-Id"),)


def test_find_batch_refs_key_is_case_insensitive_and_kept_as_written():
    assert refs(f"Subject\n\nbatch-ID: {ID}\n") == (BatchRef(ID, "trailer", "batch-ID"),)


def test_find_batch_refs_value_must_match_in_full():
    assert refs("Subject\n\nBatch-Id: 2026-03-03\n") == ()
    assert refs(f"Subject\n\nBatch-Id: {ID}9\n") == ()
    assert refs(f"Subject\n\nBatch-Id: {ID} (retry)\n") == ()


def test_find_batch_refs_trailer_form_needs_a_git_trailer_block():
    assert refs(f"Subject\n\nSome prose.\nBatch-Id: {ID}\n") == ()
    assert refs(f"Batch-Id: {ID}\n") == ()


def test_find_batch_refs_legacy_form_exact():
    assert refs(f"Subject\n\nbatch_id: {ID}\n") == (BatchRef(ID, "legacy", "batch_id"),)
    assert refs(f"Subject\n\nBATCH_ID :  {ID}\n") == (BatchRef(ID, "legacy", "BATCH_ID"),)


def test_find_batch_refs_legacy_form_among_prose_of_the_last_paragraph():
    message = f"Subject\n\nRegenerated the index.\nbatch_id: {ID}\n# comment\n"
    assert refs(message) == (BatchRef(ID, "legacy", "batch_id"),)


def test_find_batch_refs_legacy_prose_is_not_a_ref():
    assert refs(f"Subject\n\nbatch_id: {ID} (see discussion)\n") == ()
    assert refs(f"Subject\n\nbatch_id: {ID}\n  (see discussion)\n") == ()


def test_find_batch_refs_legacy_form_only_in_the_last_paragraph():
    assert refs(f"Subject\n\nbatch_id: {ID}\n\nMore prose.\n") == ()
    assert refs(f"batch_id: {ID}\n") == ()
    assert refs(f"Subject\nbatch_id: {ID}\n") == ()


def test_find_batch_refs_legacy_key_git_parses_is_still_legacy():
    message = f"Subject\n\nX-Batch: {ID}\n"
    assert refs(message, legacy_keys=("x-batch",)) == (BatchRef(ID, "legacy", "X-Batch"),)


def test_find_batch_refs_reports_an_id_in_both_forms_once_as_trailer():
    # Signed-off-by makes this a git block (25% rule) although batch_id is prose to git.
    message = f"Subject\n\nbatch_id: {ID}\nBatch-Id: {ID}\nSigned-off-by: A <a@example.com>\n"
    assert refs(message) == (BatchRef(ID, "trailer", "Batch-Id"),)


def test_find_batch_refs_distinct_ids_in_order():
    other = "2026-03-04-002"
    message = f"Subject\n\nBatch-Id: {other}\nBatch-Id: {ID}\nBatch-Id: {other}\n"
    assert [r.batch_id for r in refs(message)] == [other, ID]


def test_find_invalid_batch_values_lists_trailer_values_that_do_not_match():
    message = f"Subject\n\nBatch-Id: {ID}\nbatch-id: 2026-03-03\nOther: x\n"
    assert find_invalid_batch_values(message, key="Batch-Id", id_regex=ID_RE) == ("2026-03-03",)


# --- add_trailer ---------------------------------------------------------------------------


def test_add_trailer_starts_a_block_after_a_blank_line():
    assert add_trailer("Subject\n", "Batch-Id", ID) == f"Subject\n\nBatch-Id: {ID}\n"
    assert add_trailer("Subject\n\nBody.\n", "K", "v") == "Subject\n\nBody.\n\nK: v\n"
    assert add_trailer("", "K", "v") == "\nK: v\n"


def test_add_trailer_without_final_newline_joins_the_last_paragraph():
    # git adds only the one newline it is missing, so the trailer joins the title here.
    assert add_trailer("Subject", "K", "v") == "Subject\nK: v\n"


def test_add_trailer_appends_to_the_block_and_reprints_it():
    message = "Subject\n\nA :1\n# comment\nB:  2\n  more \n"
    assert add_trailer(message, "K", "v") == "Subject\n\nA: 1\nB: 2\n  more\nK: v\n"


def test_add_trailer_goes_before_divider_and_trailing_comments():
    message = "Subject\n\nA: 1\n---\ndiff\n"
    assert add_trailer(message, "K", "v") == "Subject\n\nA: 1\nK: v\n---\ndiff\n"
    message = "Subject\n\n# comment\n"
    assert add_trailer(message, "K", "v") == "Subject\n\nK: v\n\n# comment\n"


@pytest.mark.parametrize(
    ("last", "reprinted"),
    [
        (f"Batch-Id: {ID}", f"Batch-Id: {ID}"),
        (f"BATCH-ID :  {ID} ", f"BATCH-ID: {ID}"),
        (f"Batch: {ID}", f"Batch: {ID}"),  # same_token compares the common prefix only
    ],
)
def test_add_trailer_skips_a_duplicate_neighbour(last, reprinted):
    message = f"Subject\n\n{last}\n"
    assert add_trailer(message, "Batch-Id", ID) == f"Subject\n\n{reprinted}\n"


def test_add_trailer_compares_neighbour_values_ignoring_ascii_case_only():
    message = "Subject\n\nReviewed-by: alice\n"
    assert add_trailer(message, "Reviewed-by", "ALICE") == message
    message = "Subject\n\nReviewed-by: é\n"
    assert add_trailer(message, "Reviewed-by", "É") == message + "Reviewed-by: É\n"


def test_add_trailer_adds_when_the_duplicate_is_not_the_last_trailer():
    message = f"Subject\n\nBatch-Id: {ID}\nK: v\n"
    assert add_trailer(message, "Batch-Id", ID) == message + f"Batch-Id: {ID}\n"


def test_add_trailer_rejects_keys_git_would_split_and_multiline_values():
    with pytest.raises(ValueError, match="not a git token"):
        add_trailer("Subject\n", "batch_id", ID)
    with pytest.raises(ValueError, match="single line"):
        add_trailer("Subject\n", "K", "a\nb")


# --- properties ----------------------------------------------------------------------------

KEYS = st.builds(str.__add__, st.sampled_from("AbKz"), st.text(alphabet="aZ09-", max_size=8))
VALUES = st.text(alphabet="abcXYZ019 -_:.()#é", max_size=15).map(lambda v: v.strip(" "))
LINES = st.one_of(
    st.sampled_from(
        [
            "",
            "",
            " ",
            "Subject",
            "Prose line.",
            "A: 1",
            "Key :v",
            "batch_id: x",
            "  cont",
            "\tcont",
            "# comment",
            "---",
            "--- a/f",
            SCISSORS,
            "Signed-off-by: A <a@example.com>",
            "(cherry picked from commit 0123)",
            "Conflicts:",
            "\tfile",
            ":x",
            "\r",
        ]
    ),
    st.builds(lambda k, v: f"{k}: {v}", KEYS, VALUES),
    st.text(alphabet="ab :-#\t", max_size=8),
)
MESSAGES = st.lists(LINES, max_size=10).map(lambda lines: "".join(f"{ln}\n" for ln in lines))


def same_token(a: str, b: str) -> bool:
    """git's same_token: equal (ignoring ASCII case) on the shorter token's length."""
    n = min(len(a.rstrip("-")), len(b.rstrip("-")))
    return a[:n].lower() == b[:n].lower()


@given(MESSAGES, KEYS, VALUES)
def test_add_trailer_then_parse_ends_with_it_or_its_neighbour(message, key, value):
    # git quirk (2.39, checked with interpret-trailers): when the last paragraph is only
    # continuation lines ("\t:"), the trailer goes before it and --parse then finds nothing;
    # add_trailer does the same (tests/git/test_trailers_git.py compares them).
    lines = [ln for ln in message.split("\n") if ln.strip()]
    assume(not lines or not lines[-1][:1].isspace())
    last = parse(add_trailer(message, key, value), divider=True)[-1]
    assert last == Trailer(key, value) or (
        same_token(last.key, key) and last.value.lower() == value.lower()
    )


@given(MESSAGES, KEYS, VALUES)
def test_add_trailer_twice_adds_it_once(message, key, value):
    once = add_trailer(message, key, value)
    assert parse(add_trailer(once, key, value), divider=True) == parse(once, divider=True)


@given(MESSAGES)
def test_block_bounds_lie_inside_the_message(message):
    for divider in (False, True):
        start, end = block_bounds(message, divider=divider)
        assert 0 <= start <= end <= len(message)
        assert start < end or parse(message, divider=divider) == ()


@given(MESSAGES)
def test_parse_without_divider_lines_ignores_the_divider_flag(message):
    if not re.search(r"^---", message, re.MULTILINE):
        assert parse(message) == parse(message, divider=True)


@given(MESSAGES, st.sampled_from([ID, "2026-03-03", "2026-03-04-002"]))
def test_find_batch_refs_ids_are_distinct_and_match(message, batch_id):
    message += f"\nBatch-Id: {batch_id}\nbatch_id: {batch_id}\n"
    found = refs(message)
    assert len({r.batch_id for r in found}) == len(found)
    assert all(ID_RE.fullmatch(r.batch_id) for r in found)
