"""A history index that cannot be written is the documented error (exit 8), never a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitops.context import load_context
from gitops.errors import IndexUnavailable
from gitops.history import query
from tests.conftest import Repo, git_batch


@pytest.fixture
def registry(make_repo: Callable[..., Repo]) -> Repo:
    repo = make_repo()
    repo.commit("batch\n\nBatch-Id: 2026-03-03-001\n", {"recipes/a/a.toml": "a = 1\n"})
    return repo


def test_index_dir_taken_by_a_file_is_index_unavailable(registry: Repo) -> None:
    (registry.path / ".git" / "git-batch").write_text("not a directory\n")
    with pytest.raises(IndexUnavailable, match="is not a directory") as exc:
        query.list_batches(load_context(str(registry.path), None, None, {}))
    assert "move that file away" in (exc.value.hint or "")
    res = git_batch(registry.path, "list")
    assert res.returncode == IndexUnavailable.exit_code, res.stderr
    assert "internal error" not in res.stderr
    assert "runbook: docs/runbooks/index-unavailable.md" in res.stderr
    # show never needs the index: it answers from git
    assert git_batch(registry.path, "show", "2026-03-03-001").returncode == 0
    assert (registry.path / ".git" / "git-batch").read_text() == "not a directory\n"


def test_a_build_that_fails_midway_leaves_no_git_and_no_file(
        registry: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_full starts its history walks before it reads the recipes; when that fails, the
    walks are stopped and reaped, and neither the index nor its temporary file is left."""
    import gc  # noqa: PLC0415
    import os  # noqa: PLC0415

    from gitops import recipes  # noqa: PLC0415

    def broken(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recipes, "parse_recipe", broken)
    with pytest.raises(IndexUnavailable, match="No space left"):
        query.list_batches(load_context(str(registry.path), None, None, {}))
    assert not list((registry.path / ".git" / "git-batch").glob("index-*"))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    assert gc.isenabled()
