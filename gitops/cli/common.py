"""What the command modules share: the options object, output, and the ops write options."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import click

from gitops.cli.render import JSON_SCHEMA_VERSION
from gitops.context import Context
from gitops.ops.write import WriteResult

__all__ = ["JSON_SCHEMA_VERSION", "Options", "emit", "fetch_option", "push_option", "warn",
           "written"]

F = TypeVar("F", bound=Callable[..., Any])


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


def written(result: WriteResult, done: str, *, unchanged: str) -> None:
    """Say what a write to the ops branch did: written (and how it was signed), or not."""
    for warning in result.warnings:
        warn(warning)
    if not result.changed and result.published:
        emit(f"{unchanged}; nothing written. Published {result.tip[:10]} to {result.pushed}: "
              "operations this clone had written without --push.\n")
        return
    if not result.changed:
        emit(f"{unchanged}; nothing written.\n")
        return
    if result.signer:
        how = f"signed by {result.signer}"
    elif result.signed:
        how = "signed (not verified: ops.require_signed = false)"
    else:
        how = "NOT signed (ops.require_signed = false: trial mode)"
    where = f"; pushed to {result.pushed}" if result.pushed else ""
    emit(f"{done} at {result.tip[:10]}, {how}{where}.\n")


class TerminalProgress:
    """Long work drawn as a progress bar on stderr (click's: position, percentage, time left,
    plus the rate); the CLI passes one only when stderr is a terminal."""

    def __init__(self, label: str, unit: str = "commits") -> None:
        self.label, self.unit = label, unit
        self._bar: Any = None
        self._started = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if self._bar is None:
            if total is not None and done >= total:
                return  # finished before anything was drawn: nothing to show
            self._started = time.monotonic()
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                          show_pos=True, show_percent=True, show_eta=True,
                                          item_show_func=self._rate)
            self._bar.__enter__()
        self._bar.update(done - self._bar.pos, current_item=done)
        if total is not None and done >= total:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _rate(self, done: int | None) -> str | None:
        elapsed = time.monotonic() - self._started
        if done is None or elapsed <= 0:
            return None
        return f"{done / elapsed:,.0f} {self.unit}/s"

