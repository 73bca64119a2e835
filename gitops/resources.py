"""importlib.resources access to shipped hooks/ (and later templates/).

An installed wheel carries the top-level `hooks/` directory as `gitops/_data/hooks/` (see
pyproject.toml); a source checkout or an editable install without the mapping reads `hooks/`
beside the package. Nothing else in the package opens these files.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

HOOK_SHIMS = ("commit-msg", "prepare-commit-msg", "pre-push", "pre-receive")
MARKER_PREFIX = "# gitops-hook v"


def _hooks_root() -> Traversable:
    try:
        packaged = resources.files("gitops._data.hooks")
        if packaged.joinpath("commit-msg").is_file():
            return packaged
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "hooks"


def hook_shim(name: str) -> str:
    """The text of the shipped shim for hook name."""
    if name not in HOOK_SHIMS:
        raise KeyError(name)
    return _hooks_root().joinpath(name).read_text(encoding="utf-8")


def hook_shims() -> dict[str, str]:
    """Every shipped shim by hook name."""
    return {name: hook_shim(name) for name in HOOK_SHIMS}
