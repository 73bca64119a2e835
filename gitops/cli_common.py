"""What the CLI modules (cli, cli_ops, cli_controls, cli_hooks, cli_inflight) share."""

from __future__ import annotations

import sys
from typing import Protocol

from gitops.context import Context
from gitops.render import JSON_SCHEMA_VERSION

__all__ = ["JSON_SCHEMA_VERSION", "Options", "emit"]


class Options(Protocol):
    """The global options object click passes to every command (cli.Options)."""

    def context(self) -> Context: ...


def emit(text: str) -> None:
    """Results go to stdout (narration and errors go to stderr)."""
    sys.stdout.write(text)
    sys.stdout.flush()
