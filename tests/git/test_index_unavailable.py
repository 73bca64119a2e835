"""A history index that cannot be written is the documented error (exit 8), never a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitops import lookup
from gitops.context import load_context
from gitops.errors import IndexUnavailable
from tests.conftest import Repo, git_batch


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit("batch\n\nBatch-Id: 2026-03-03-001\n", {"recipes/a/a.toml": "a = 1\n"})
    return repo


def test_index_dir_taken_by_a_file_is_index_unavailable(registry: Repo) -> None:
    (registry.path / ".git" / "git-batch").write_text("not a directory\n")
    with pytest.raises(IndexUnavailable, match="is not a directory") as exc:
        lookup.list_batches(load_context(str(registry.path), None, None, {}))
    assert "move that file away" in (exc.value.hint or "")
    res = git_batch(registry.path, "list")
    assert res.returncode == IndexUnavailable.exit_code, res.stderr
    assert "internal error" not in res.stderr
    assert "runbook: docs/runbooks/index-unavailable.md" in res.stderr
    # show never needs the index: it answers from git
    assert git_batch(registry.path, "show", "2026-03-03-001").returncode == 0
    assert (registry.path / ".git" / "git-batch").read_text() == "not a directory\n"
