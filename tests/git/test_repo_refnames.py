"""repo.is_valid_ref_name (libgit2) against `git check-ref-format` (differential).

revert checks its branch name in process instead of starting check-ref-format; the two must
agree on every full ref name under refs/.
"""

from __future__ import annotations

import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.git.objects import is_valid_ref_name

# the characters and sequences git-check-ref-format(1) has rules about, plus ordinary ones
PIECES = ["a", "b", "x1", "-", "_", ".", "..", "/", "//", "@", "@{", "{", "}", ":", "?", "*",
          "[", "\\", "~", "^", " ", "\t", "\x01", "\x7f", ".lock", "é", "ä"]

EDGES = ["refs/heads/a..b", "refs/heads/@", "refs/heads/a@{b", "refs/heads/.x", "refs/heads/x.",
         "refs/heads/x.lock", "refs/heads/a//b", "refs/heads/a b", "refs/heads/-x",
         "refs/heads/x/", "refs/heads/*", "refs/heads", "refs/x", "refs/heads/a/.b",
         "refs/heads/a.lock/b", "refs/heads/batch-revert/2026-03-03-001", "refs//heads/x",
         "refs/heads/.", "refs/heads/a/./b", "refs/heads/é"]


def git_says(name: str) -> bool:
    return subprocess.run(["git", "check-ref-format", name], capture_output=True,
                          check=False).returncode == 0


def test_edge_cases_agree_with_git() -> None:
    for name in EDGES:
        assert is_valid_ref_name(name) == git_says(name), name


def test_names_outside_refs_are_refused() -> None:
    for name in ("HEAD", "main", "FOO", "heads/main", "-refs/heads/x"):
        assert not is_valid_ref_name(name)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join))
def test_generated_names_agree_with_git(tail: str) -> None:
    name = f"refs/heads/{tail}"
    assert is_valid_ref_name(name) == git_says(name)
