"""What the command modules share: the options object, output helpers, the ops write options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import click

from gitops.context import Context

F = TypeVar("F", bound=Callable[..., Any])

JSON_SCHEMA_VERSION = 1  # of every --json document


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 file`, `2 files` (many: the plural when it is not one + "s")."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def dumps(doc: object) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


class Options(Protocol):
    """The global options object click passes to every command (cli.main.Options)."""

    config: str | None  # --config, for the commands that also work outside a repository

    def context(self) -> Context: ...


def emit(text: str) -> None:
    """Results go to stdout (narration and errors go to stderr)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def warn(text: str) -> None:
    sys.stderr.write(f"git-batch: warning: {text}\n")


def push_option(fn: F) -> F:
    return click.option(
        "--push", "push", metavar="REMOTE", envvar="GIT_BATCH_PUSH",
        help="Also publish to REMOTE (fetch, apply, push without force; retried when another "
             "writer wins) [env: GIT_BATCH_PUSH].")(fn)


def fetch_option(fn: F) -> F:
    return click.option(
        "--fetch", "fetch", metavar="REMOTE", envvar="GIT_BATCH_FETCH",
        help="Fetch the ops branch from REMOTE first [env: GIT_BATCH_FETCH].")(fn)
