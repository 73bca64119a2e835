"""Pure: results of the ops branch (writes, SLOs) -> the lines the ops commands print."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitops.cli.common import emit, warn
from gitops.ops import slo
from gitops.ops.write import WriteResult


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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def slo_json(reports: Iterable[slo.Report]) -> list[dict[str, Any]]:
    return [{"ecosystem": r.ecosystem, "target": r.target, "severity": r.severity,
             "windows": {w.name: {"passed": w.passed, "failed": w.failed, "sli": w.sli,
                                  "severity": w.severity} for w in r.windows}}
            for r in reports]


def slo_lines(reports: Iterable[slo.Report]) -> list[str]:
    rows = [("ECOSYSTEM", "SLO", "24H", "7D", "SEVERITY")]
    for r in reports:
        day, week = r.windows
        rows.append((r.ecosystem, _pct(r.target), _pct(day.sli), _pct(week.sli),
                     r.severity.upper() if r.severity != "ok" else "ok"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
