"""Frozen Context handed from cli to core: repository, Config, clock.

Loading order for the configuration (STYLE.md section 5): defaults < file < GIT_BATCH_* < flags.
The file is `--config PATH`, else `GIT_BATCH_CONFIG`, else `.git-batch.toml` at the root of the
work tree, else (bare repository) the `.git-batch.toml` blob of HEAD's tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from gitops import config as config_mod
from gitops.config import CONFIG_FILENAME, Config
from gitops.git import process
from gitops.git.repository import RepoInfo, open_repository, repo_path


class SystemClock:
    """The one real clock; pure code receives `now` from it."""

    def now(self) -> datetime:
        return datetime.now(tz=UTC)


Progress = Callable[[int, int | None], None]  # (done, total) of long work, for a person


class Context(NamedTuple):
    repo: RepoInfo
    config: Config
    clock: SystemClock
    progress: Progress | None = None  # set by the CLI when stderr is a terminal


def load_config(repo: RepoInfo, config_path: str | None, environ: Mapping[str, str]) -> Config:
    explicit = config_path or environ.get("GIT_BATCH_CONFIG")
    if explicit:
        cfg = config_mod.load_config_file(Path(explicit))
    elif repo.work_tree is not None and (Path(repo.work_tree) / CONFIG_FILENAME).is_file():
        cfg = config_mod.load_config_file(Path(repo.work_tree) / CONFIG_FILENAME)
    elif repo.work_tree is None:
        res = process.run("cat-file", "blob", f"HEAD:{CONFIG_FILENAME}", repo=repo.path,
                         ok=frozenset({0, 128}))
        if res.returncode == 0:
            cfg = config_mod.parse_config_text(res.text, f"HEAD:{CONFIG_FILENAME}")
        else:
            cfg = Config()
    else:
        cfg = Config()
    return config_mod.apply_env(cfg, environ)


def load_context(repo_arg: str | None, config_path: str | None, base: str | None,
                 environ: Mapping[str, str], *, progress: Progress | None = None) -> Context:
    """The Context of a command: its repository and its configuration, every layer applied."""
    repo = open_repository(repo_path(repo_arg, environ))
    cfg = load_config(repo, config_path, environ)
    cfg = config_mod.with_base_branch(cfg, base)
    return Context(repo=repo, config=cfg, clock=SystemClock(), progress=progress)
