"""Progress of long work for a person: a bar on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any

import click


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
