"""Pure per-ecosystem SLOs: success rate over 24 h and 7 d against a target, with a severity.

The SLI is passed / (passed + failed) of every recorded package (skipped ones excluded; unlike
the breaker, package-specific failures count: users see them). Severity: critical below
`critical` (50 %), warning below the ecosystem's target (default 98 %), ok otherwise; a window
without data is ok. The ecosystem's severity is the worse of its two windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from gitops.config import SloPolicy

Severity = Literal["ok", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("ok", "warning", "critical")
WINDOWS: tuple[tuple[str, timedelta], ...] = (("24h", timedelta(hours=24)),
                                              ("7d", timedelta(days=7)))


class Window(NamedTuple):
    name: str  # "24h" or "7d"
    passed: int
    failed: int
    severity: Severity

    @property
    def sli(self) -> float | None:
        total = self.passed + self.failed
        return self.passed / total if total else None


class Report(NamedTuple):
    ecosystem: str
    target: float
    windows: tuple[Window, ...]
    severity: Severity


def severity_of(sli: float | None, target: float, p: SloPolicy) -> Severity:
    if sli is None or sli >= target:
        return "ok"
    return "critical" if sli < p.critical else "warning"


def evaluate(ecosystem: str, buckets: Mapping[datetime, tuple[int, int]], now: datetime,
             p: SloPolicy) -> Report:
    """The SLIs of one ecosystem from its hourly (passed, failed) buckets."""
    target = p.target_of(ecosystem)
    windows = []
    for name, span in WINDOWS:
        since = now - span
        passed = sum(v[0] for h, v in buckets.items() if since < h + timedelta(hours=1)
                     and h <= now)
        failed = sum(v[1] for h, v in buckets.items() if since < h + timedelta(hours=1)
                     and h <= now)
        total = passed + failed
        windows.append(Window(name, passed, failed,
                              severity_of(passed / total if total else None, target, p)))
    worst = max((w.severity for w in windows), key=SEVERITIES.index)
    return Report(ecosystem, target, tuple(windows), worst)
